'use strict';
// koffi mirror of vap/plugin.h and vap/host.h (the C ABI, nothing more).
const koffi = require('koffi');

const ABI_MINOR = 1;
const status = {
  OK: 0, E_INVAL: -1, E_CONFIG: -2, E_ABI: -3, E_UNSUPPORTED: -4, E_NOMEM: -5, E_IO: -6,
  E_SEAL: -7, E_UNAVAILABLE: -8, E_TIMEOUT: -9, E_TLS: -10, E_CANCELLED: -11,
  E_REAUTH_REQUIRED: -12, E_CLIENT: -13, E_DENIED: -14, E_PROTOCOL: -15, E_HTTP: -16,
};
const caps = { REFRESH: 1n << 1n, FETCH: 1n << 2n, STATUS: 1n << 3n, RELOAD: 1n << 4n,
  CANCEL: 1n << 5n };
const FETCH_STANDARD_API = 1;
const FETCH_ALL_PAGES = 2;
const STAGE_INSTANCE = 3;
const LOG = { error: 0, warning: 1, info: 2, debug: 3 };

const Option = koffi.struct('vap_option', { key: 'const char *', value: 'const char *' });
const Header = koffi.struct('vap_header', { name: 'const char *', value: 'const char *' });
const VapErrorT = koffi.struct('vap_error', {
  struct_size: 'uint32_t', abi_minor: 'uint32_t', code: 'int', http_status: 'int',
  retry_after_s: 'int', oauth_error: koffi.array('char', 64, 'String'),
  message: koffi.array('char', 256, 'String'),
});
const Call = koffi.struct('vap_call', {
  struct_size: 'uint32_t', abi_minor: 'uint32_t', deadline_ms: 'int64_t', cancel: 'void *',
});
const GrantInfo = koffi.struct('vap_grant_info', {
  struct_size: 'uint32_t', abi_minor: 'uint32_t', state: 'int', scope: 'const char *',
  patient: 'const char *', encounter: 'const char *', subject: 'const char *',
  fhir_user: 'const char *', access_expires_at_ms: 'int64_t', obtained_at_ms: 'int64_t',
  generation: 'uint64_t', has_refresh_token: 'int',
});
const FetchRequest = koffi.struct('vap_fetch_request', {
  struct_size: 'uint32_t', abi_minor: 'uint32_t', method: 'const char *',
  path: 'const char *', query: 'const char *', body: 'void *', body_len: 'size_t',
  content_type: 'const char *', flags: 'uint32_t', max_pages: 'uint32_t',
});
const FetchResponse = koffi.struct('vap_fetch_response', {
  struct_size: 'uint32_t', abi_minor: 'uint32_t', status: 'int',
  content_type: 'const char *', body: 'void *', body_len: 'size_t', headers: 'void *',
  n_headers: 'size_t', pages: 'uint32_t',
});
const HostError = koffi.struct('vaph_error', {
  code: 'int', stage: 'int', plugin: VapErrorT, message: koffi.array('char', 1024, 'String'),
});

const protos = {
  instance_new: koffi.proto('int vap_instance_new_fn(vap_option *opts, size_t n, ' +
    '_Out_ void **out, _Inout_ vap_error *err)'),
  instance_free: koffi.proto('void vap_instance_free_fn(void *inst)'),
  grant: koffi.proto('int vap_grant_fn(void *inst, vap_call *call, _Out_ void **out, ' +
    '_Inout_ vap_error *err)'),
  fetch: koffi.proto('int vap_fetch_fn(void *inst, vap_call *call, vap_fetch_request *req, ' +
    '_Out_ void **out, _Inout_ vap_error *err)'),
  reload: koffi.proto('int vap_reload_fn(void *inst, vap_call *call, _Inout_ vap_error *err)'),
  release: koffi.proto('void vap_release_fn(void *obj)'),
  strerror: koffi.proto('const char *vap_strerror_fn(int code)'),
  cancel_new: koffi.proto('void *vap_cancel_new_fn()'),
  cancel_op: koffi.proto('void vap_cancel_op_fn(void *c)'),
};

// The descriptor's fields in order; every function pointer read as a pointer
// and turned into a callable only when the descriptor reaches it (VAP_HAS).
const PluginApi = koffi.struct('vap_plugin_api', {
  struct_size: 'uint32_t', abi_minor: 'uint32_t', name: 'const char *',
  version: 'const char *', caps: 'uint64_t', instance_new: 'void *', instance_free: 'void *',
  authorize_begin: 'void *', authorize_complete: 'void *', refresh: 'void *',
  fetch: 'void *', status: 'void *', reload: 'void *', release: 'void *', strerror: 'void *',
  cancel_new: 'void *', cancel_fire: 'void *', cancel_free: 'void *',
});
const PROTO_OF = {
  instance_new: protos.instance_new, instance_free: protos.instance_free,
  refresh: protos.grant, fetch: protos.fetch, status: protos.grant, reload: protos.reload,
  release: protos.release, strerror: protos.strerror, cancel_new: protos.cancel_new,
  cancel_fire: protos.cancel_op, cancel_free: protos.cancel_op,
};


// The plugin's functions as JS callables, with struct_size honoured.
function descriptor(apiPtr) {
  const raw = koffi.decode(apiPtr, PluginApi);
  const fns = { name: raw.name, version: raw.version, caps: BigInt(raw.caps) };
  for (const [field, proto] of Object.entries(PROTO_OF)) {
    const end = koffi.offsetof(PluginApi, field) + koffi.sizeof('void *');
    const p = raw[field];
    fns[field] = end <= raw.struct_size && p ? koffi.decode(p, proto) : null;
  }
  return fns;
}

let lib = null;
function library() {
  if (lib) return lib;
  // $VAP_HOST_LIB, else the library path, then where `ninja install` puts it
  // before ldconfig ran.
  const tries = process.env.VAP_HOST_LIB ? [process.env.VAP_HOST_LIB]
    : ['libvaphost.so.1', '/usr/local/lib/x86_64-linux-gnu/libvaphost.so.1',
      '/usr/local/lib/libvaphost.so.1', '/usr/lib/x86_64-linux-gnu/libvaphost.so.1'];
  let l = null;
  let why = null;
  for (const t of tries) {
    try {
      l = koffi.load(t);
      break;
    } catch (e) {
      if (!why) why = e;
    }
  }
  if (!l) {
    const { ConfigError } = require('./errors');
    throw new ConfigError(`cannot load libvaphost (${tries[0]}): ${why.message}; install ` +
      'vap-openemr (ninja -C build install) or set VAP_HOST_LIB to libvaphost.so.1',
    { code: status.E_CONFIG });
  }
  lib = {
    configPath: l.func('const char *vaph_config_path(const char *config)'),
    stderrHost: l.func('void *vaph_stderr_host(int verbosity)'),
    open: l.func('int vaph_open(const char *config, const char *instance, void *host, ' +
      '_Out_ void **api, _Out_ void **inst, _Out_ uint8_t *name, size_t name_len, ' +
      '_Out_ vaph_error *err)'),
    load: l.func('int vaph_load(const char *module, vap_option *opts, size_t n, void *host, ' +
      '_Out_ void **api, _Out_ void **inst, _Out_ vaph_error *err)'),
  };
  return lib;
}

module.exports = {
  koffi, ABI_MINOR, status, caps, FETCH_STANDARD_API, FETCH_ALL_PAGES, STAGE_INSTANCE, LOG,
  Option, Header, VapErrorT, Call, GrantInfo, FetchRequest, FetchResponse, HostError,
  descriptor, library,
};
