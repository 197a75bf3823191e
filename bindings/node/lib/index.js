'use strict';
// vap-openemr for Node: the vap_openemr plugin (grant, refresh, FHIR fetch in
// C) loaded exactly as vap-host loads it, through libvaphost, and driven over
// the C ABI with koffi.  Every plugin call runs off the event loop (koffi
// async calls); an AbortSignal fires the call's cancel token.  No token ever
// reaches JavaScript.
const abi = require('./abi');
const errors = require('./errors');

const { koffi, status: S } = abi;
const { InvalidArgument, ConfigError, OutOfMemory, Unsupported, fromCode } = errors;
const GRANT_STATES = ['none', 'valid', 'expired', 'reauth_required'];

// Backstop: an object the program dropped without close() is still released.
const released = new FinalizationRegistry(({ release, ptr }) => release(ptr));

function callAsync(fn, args) {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err, rc) => (err ? reject(err) : resolve(rc)));
  });
}

function raise(api, rc, err, response) {
  let msg = err.message || '';
  if (!msg && api.strerror) msg = api.strerror(rc) || '';
  return fromCode(rc, msg || 'failed', { httpStatus: err.http_status,
    oauthError: err.oauth_error || '', retryAfterS: err.retry_after_s, response });
}

function vapError() {
  return { struct_size: koffi.sizeof(abi.VapErrorT), abi_minor: abi.ABI_MINOR };
}

/** A fetch's answer.  The body stays in the plugin's memory until close()
 * (or `using`), which has the plugin free and wipe it. */
class Response {
  constructor(api, ptr, { detached = false } = {}) {
    const r = koffi.decode(ptr, abi.FetchResponse);
    this.status = r.status;
    this.contentType = r.content_type || '';
    this.pages = r.pages;
    this.headers = {};
    if (r.n_headers > 0 && r.headers) {
      for (const h of koffi.decode(r.headers, abi.Header, Number(r.n_headers))) {
        const name = (h.name || '').toLowerCase();
        this.headers[name] = name in this.headers ? `${this.headers[name]}, ${h.value}` : h.value;
      }
    }
    this._raw = r;
    this._api = api;
    this._ptr = ptr;
    this._body = null;
    this._token = {};
    released.register(this, { release: api.release, ptr }, this._token);
    if (detached) {
      this._body = this._read();
      this.close({ keepBody: true });
    }
  }

  _read() {
    const n = Number(this._raw.body_len);
    const copy = Buffer.alloc(n > 0 && this._raw.body ? n : 0);
    if (copy.length) copy.set(new Uint8Array(koffi.view(this._raw.body, n)));
    return copy;
  }

  /** The body bytes (patient data: the program owns what it does with them). */
  get body() {
    if (this._body === null) {
      if (this._ptr === null) {
        throw new InvalidArgument('the response was closed; read its body before close()');
      }
      this._body = this._read();
    }
    return this._body;
  }

  text() { return this.body.toString('utf8'); }

  json() { return JSON.parse(this.text()); }

  get closed() { return this._ptr === null; }

  close({ keepBody = false } = {}) {
    if (this._ptr !== null) {
      released.unregister(this._token);
      this._api.release(this._ptr);
      this._ptr = null;
      this._raw = null;
    }
    if (!keepBody) this._body = null;
  }

  toJSON() {
    return { status: this.status, contentType: this.contentType, pages: this.pages,
      headers: this.headers };
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Response { status: ${this.status}, pages: ${this.pages}${this.closed ? ', closed' : ''} }`;
  }
}

function grantOf(g) {
  return {
    state: GRANT_STATES[g.state] || String(g.state), scope: g.scope || '',
    patient: g.patient || '', encounter: g.encounter || '', subject: g.subject || '',
    fhirUser: g.fhir_user || '', accessExpiresAtMs: Number(g.access_expires_at_ms),
    obtainedAtMs: Number(g.obtained_at_ms), generation: Number(g.generation),
    hasRefreshToken: Boolean(g.has_refresh_token),
  };
}

/** One configured connection to a practice's OpenEMR (vap_instance). */
class Instance {
  constructor(apiPtr, inst, name) {
    this._api = abi.descriptor(apiPtr);
    this._inst = inst;
    this.name = name;
    this.plugin = this._api.name;
    this.version = this._api.version;
    this._busy = 0;
    this._idle = null;
    this._closed = false;
    this._token = {};
    released.register(this, { release: this._api.instance_free, ptr: inst }, this._token);
  }

  _need(field, cap) {
    const fn = this._api[field];
    if (!fn || (this._api.caps & cap) === 0n) {
      throw new Unsupported(`this plugin (${this.plugin} ${this.version}) cannot ${field}`);
    }
    return fn;
  }

  // Runs fn on koffi's worker threads with a vap_call carrying the deadline
  // and, when a signal is given, a cancel token that the signal fires.
  async _run(fn, before, { timeout, signal } = {}) {
    if (this._closed) throw new InvalidArgument('this vap instance is closed; open a new one');
    if (timeout !== undefined && timeout !== null && !(timeout > 0)) {
      throw new InvalidArgument('timeout must be a positive number of seconds');
    }
    const call = { struct_size: koffi.sizeof(abi.Call), abi_minor: abi.ABI_MINOR,
      deadline_ms: timeout ? Date.now() + Math.max(1, Math.round(timeout * 1000)) : 0,
      cancel: null };
    let token = null;
    let onAbort = null;
    if (signal) {
      if (!this._api.cancel_new) throw new Unsupported('this plugin cannot cancel a call');
      token = this._api.cancel_new();
      if (!token) throw new OutOfMemory('out of memory creating a cancel token');
      call.cancel = token;
      onAbort = () => this._api.cancel_fire(token);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    this._busy++;
    try {
      return await callAsync(fn, before(call));
    } finally {
      if (signal) signal.removeEventListener('abort', onAbort);
      if (token) this._api.cancel_free(token);
      if (--this._busy === 0 && this._idle) this._idle();
    }
  }

  /** An authenticated request; see index.d.ts. */
  async fetch(path, opts = {}) {
    const fn = this._need('fetch', abi.caps.FETCH);
    let { query = null, method = 'GET', body = null } = opts;
    if (query && typeof query === 'object') {
      query = new URLSearchParams(query).toString().replace(/\+/g, '%20');
    }
    if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) &&
        !(body instanceof Uint8Array)) body = JSON.stringify(body);
    const ours = typeof body === 'string'; // our copy of the body: wiped after the call
    if (ours) body = Buffer.from(body);
    method = String(method).toUpperCase();
    if (!['GET', 'POST', 'PUT'].includes(method)) {
      throw new InvalidArgument(`method must be GET, POST or PUT, not ${JSON.stringify(opts.method)}`);
    }
    const req = { struct_size: koffi.sizeof(abi.FetchRequest), abi_minor: abi.ABI_MINOR,
      method, path: String(path), query: query || null, body: body || null,
      body_len: body ? body.length : 0,
      content_type: body ? (opts.contentType || 'application/json') : null,
      flags: (opts.allPages ? abi.FETCH_ALL_PAGES : 0) | (opts.api ? abi.FETCH_STANDARD_API : 0),
      max_pages: opts.maxPages || 0 };
    const out = [null];
    const err = vapError();
    let rc;
    try {
      rc = await this._run(fn, (call) => [this._inst, call, req, out, err], opts);
    } finally {
      if (ours) body.fill(0);
    }
    if (rc !== S.OK) {
      throw raise(this._api, rc, err, out[0] ? new Response(this._api, out[0], { detached: true })
        : null);
    }
    return new Response(this._api, out[0]);
  }

  /** fetch() and .json(), releasing the response at once. */
  async fetchJSON(path, opts = {}) {
    const r = await this.fetch(path, opts);
    try { return r.json(); } finally { r.close(); }
  }

  async _grant(field, cap, opts) {
    const fn = this._need(field, cap);
    const out = [null];
    const err = vapError();
    const rc = await this._run(fn, (call) => [this._inst, call, out, err], opts);
    try {
      if (rc !== S.OK) throw raise(this._api, rc, err);
      return grantOf(koffi.decode(out[0], abi.GrantInfo));
    } finally {
      if (out[0]) this._api.release(out[0]);
    }
  }

  status(opts) { return this._grant('status', abi.caps.STATUS, opts); }

  refresh(opts) { return this._grant('refresh', abi.caps.REFRESH, opts); }

  async reload(opts) {
    const fn = this._need('reload', abi.caps.RELOAD);
    const err = vapError();
    const rc = await this._run(fn, (call) => [this._inst, call, err], opts);
    if (rc !== S.OK) throw raise(this._api, rc, err);
  }

  async findPatient({ name, birthdate, phone, ...opts } = {}) {
    if ((name === undefined) === (phone === undefined)) {
      throw new InvalidArgument('findPatient needs name (with birthdate if known) or phone, not both');
    }
    if (birthdate !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(birthdate)) {
      throw new InvalidArgument('findPatient: birthdate must be YYYY-MM-DD');
    }
    const query = name !== undefined ? { name } : { phone };
    if (name !== undefined && birthdate) query.birthdate = birthdate;
    query._count = '50';
    const bundle = await this.fetchJSON('Patient', { ...opts, query });
    return (bundle.entry || []).map((e) => summary(e.resource || {})).filter(Boolean);
  }

  /** Waits for calls in flight, then frees the instance. */
  async close() {
    if (this._closed) return;
    this._closed = true;
    if (this._busy > 0) await new Promise((r) => { this._idle = r; });
    released.unregister(this._token);
    this._api.instance_free(this._inst);
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Instance { name: '${this.name}', plugin: '${this.plugin} ${this.version}' }`;
  }
}

// `using` / `await using` where the runtime has them (Node 20+).
if (Symbol.dispose) Response.prototype[Symbol.dispose] = function dispose() { this.close(); };
if (Symbol.asyncDispose) {
  Instance.prototype[Symbol.asyncDispose] = function asyncDispose() { return this.close(); };
}

function summary(res) {
  if (typeof res.id !== 'string') return null;
  const nm = (res.name || [{}])[0] || {};
  const parts = (nm.given || []).filter((g) => typeof g === 'string');
  if (typeof nm.family === 'string') parts.push(nm.family);
  const out = { id: res.id, name: parts.join(' ') };
  if (typeof res.birthDate === 'string') out.birthDate = res.birthDate;
  const tel = (res.telecom || []).find((t) => t.system === 'phone' && typeof t.value === 'string');
  if (tel) out.phone = tel.value;
  return out;
}

function host(logLevel = 'warning') {
  if (!(logLevel in abi.LOG)) {
    throw new InvalidArgument(`logLevel must be one of ${Object.keys(abi.LOG).join(', ')}`);
  }
  return abi.library().stderrHost(abi.LOG[logLevel]);
}

function openError(rc, herr) {
  const msg = herr.message
    .replace('-c CONFIG or VAP_CONFIG', '{config} or VAP_CONFIG')
    .replace('check -i NAME', 'check {instance}')
    .replace('with -i NAME (e.g. -i ', 'with {instance} (e.g. ');
  if (herr.stage === abi.STAGE_INSTANCE) {
    return fromCode(rc, msg, { httpStatus: herr.plugin.http_status,
      oauthError: herr.plugin.oauth_error || '' });
  }
  if (rc === S.E_NOMEM) return new OutOfMemory(msg);
  if (rc === S.E_ABI) return new errors.AbiError(msg);
  return new ConfigError(msg, { code: rc });
}

/** The config file open() reads: config, else $VAP_CONFIG, else /etc/vap/plugins.conf. */
function configPath(config) {
  return abi.library().configPath(config || null);
}

/** Open an instance of a config file (vap-host's lookup). */
function open({ config, instance, logLevel } = {}) {
  const lib = abi.library();
  const api = [null];
  const inst = [null];
  const name = Buffer.alloc(80);
  const herr = {};
  const rc = lib.open(config || null, instance || null, host(logLevel), api, inst, name,
    name.length, herr);
  if (rc !== S.OK) throw openError(rc, herr);
  return new Instance(api[0], inst[0], name.subarray(0, name.indexOf(0)).toString());
}

/** Load the plugin at an absolute path with the options of a config line. */
function load(module, options = {}, { logLevel } = {}) {
  const lib = abi.library();
  const opts = Object.entries(options).map(([key, value]) => {
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new InvalidArgument(`option ${key}: give a string or a number`);
    }
    return { key, value: String(value) };
  });
  const api = [null];
  const inst = [null];
  const herr = {};
  const rc = lib.load(module, opts.length ? opts : null, opts.length, host(logLevel), api,
    inst, herr);
  if (rc !== S.OK) throw openError(rc, herr);
  return new Instance(api[0], inst[0], '');
}

module.exports = { open, load, configPath, Instance, Response, ...errors };
delete module.exports.fromCode;
