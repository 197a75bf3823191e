'use strict';
// The errors vap-openemr rejects with: one class per error class of
// vap/plugin.h, each carrying the plugin's one-line message (never a token,
// secret or patient data), code, httpStatus, oauthError and retryAfterS.
const { status: S } = require('./abi');

class VapError extends Error {
  constructor(message, { code, httpStatus = 0, oauthError = '', retryAfterS = 0,
    response = null } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code !== undefined ? code : new.target.CODE;
    this.httpStatus = httpStatus;
    this.oauthError = oauthError;
    this.retryAfterS = retryAfterS;
    // The server's answer where it sent a body (fetch only); already released.
    this.response = response;
  }
}
const def = (name, code, base = VapError) => {
  const cls = { [name]: class extends base {} }[name];
  cls.CODE = code;
  return cls;
};
const InvalidArgument = def('InvalidArgument', S.E_INVAL);
const ConfigError = def('ConfigError', S.E_CONFIG);
const AbiError = def('AbiError', S.E_ABI, ConfigError);
const Unsupported = def('Unsupported', S.E_UNSUPPORTED);
const OutOfMemory = def('OutOfMemory', S.E_NOMEM);
const LocalIOError = def('LocalIOError', S.E_IO);
const SealError = def('SealError', S.E_SEAL);
const Unavailable = def('Unavailable', S.E_UNAVAILABLE);
const Timeout = def('Timeout', S.E_TIMEOUT, Unavailable);
const TLSError = def('TLSError', S.E_TLS);
const Cancelled = def('Cancelled', S.E_CANCELLED);
const ReauthRequired = def('ReauthRequired', S.E_REAUTH_REQUIRED);
const ClientRejected = def('ClientRejected', S.E_CLIENT);
const Denied = def('Denied', S.E_DENIED);
const ProtocolError = def('ProtocolError', S.E_PROTOCOL);
const HTTPError = def('HTTPError', S.E_HTTP);

const classes = { VapError, InvalidArgument, ConfigError, AbiError, Unsupported, OutOfMemory,
  LocalIOError, SealError, Unavailable, Timeout, TLSError, Cancelled, ReauthRequired,
  ClientRejected, Denied, ProtocolError, HTTPError };
const byCode = new Map(Object.values(classes).filter((c) => c.CODE).map((c) => [c.CODE, c]));

function fromCode(code, message, extra = {}) {
  const cls = byCode.get(code) || VapError;
  return new cls(message, { code, ...extra });
}

module.exports = { ...classes, fromCode };
