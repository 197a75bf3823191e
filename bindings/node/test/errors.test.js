'use strict';
// Every error class, each carrying message, httpStatus and oauthError, none
// carrying a token or secret; AbortSignal during a slow token request.
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, test } = require('node:test');
const { World, withWorld, rejectsWith } = require('./helpers');
const { LIBVAPHOST, VAP_SEAL } = require('./world');
const vap = require('..');

const FHIR = '/apis/default/fhir/Patient*';
const TOKEN = '/oauth2/default/token';
const SLOW_MS = 6000;

let w;
let emr;
before(async () => { w = await new World().start(); emr = vap.open({ config: w.conf }); });
after(async () => { await emr.close(); await w.stop(); });

const throwsWith = (cls, fn) => rejectsWith(cls, (async () => fn())());
const fresh = (fn) => withWorld(async (fw) => {
  const inst = vap.open({ config: fw.conf });
  try { await fn(fw, inst); } finally { await inst.close(); }
});

test('Denied names the missing scope', async () => {
  const e = await rejectsWith(vap.Denied, emr.fetch('Observation'));
  assert.match(e.message, /user\/Observation\.read/);
  assert.ok([401, 403].includes(e.httpStatus));
  assert.equal(e.code, -14);
});

test('HTTPError keeps the body', async () => {
  const e = await rejectsWith(vap.HTTPError, emr.fetch('Patient/no-such-patient'));
  assert.equal(e.httpStatus, 404);
  assert.equal(e.response.status, 404);
  assert.ok(Buffer.isBuffer(e.response.body));
});

test('ReauthRequired when the refresh token is dead', () => fresh(async (fw, inst) => {
  await fw.control('revoke-refresh-tokens');
  await fw.control('expire-access-tokens');
  const e = await rejectsWith(vap.ReauthRequired, inst.fetch('Patient'));
  assert.ok(e.oauthError && [400, 401].includes(e.httpStatus));
  assert.equal((await inst.status()).state, 'reauth_required');
}));

test('ClientRejected names invalid_client', () => fresh(async (fw, inst) => {
  await fw.control('clients/enable', { client_id: 'binding-client', enabled: false });
  await fw.control('expire-access-tokens');
  const e = await rejectsWith(vap.ClientRejected, inst.fetch('Patient'));
  assert.equal(e.oauthError, 'invalid_client');
  assert.equal(e.httpStatus, 401);
}));

test('Unavailable after retries', () => fresh(async (fw, inst) => {
  await fw.control('faults', { route: FHIR, kind: '5xx', count: 50 });
  const e = await rejectsWith(vap.Unavailable, inst.fetch('Patient'));
  assert.equal(e.httpStatus, 503);
}));

test('Timeout at the caller\'s deadline', () => fresh(async (fw, inst) => {
  await fw.control('faults', { route: FHIR, kind: 'latency', ms: 5000, count: 3 });
  await rejectsWith(vap.Timeout, inst.fetch('Patient', { timeout: 0.3 }));
}));

test('InvalidArgument for a bad method', async () => {
  await throwsWith(vap.InvalidArgument, () => emr.fetch('Patient', { method: 'DELETE' }));
});

test('ConfigError names the unknown option, the missing config, the instance', async () => {
  let e = await throwsWith(vap.ConfigError, () => vap.load(w.module, { ...w.options, colour: 'x' }));
  assert.match(e.message, /colour/);
  e = await throwsWith(vap.ConfigError, () => vap.open({ config: path.join(w.dir, 'none.conf') }));
  assert.match(e.message, /none\.conf.*VAP_CONFIG/);
  assert.ok(!e.message.includes('-c CONFIG'));
  e = await throwsWith(vap.ConfigError, () => vap.open({ config: w.conf, instance: 'other' }));
  assert.ok(e.message.includes('{instance}') && !e.message.includes('-i NAME'));
});

test('ConfigError for a group-writable config', async () => {
  const bad = path.join(w.dir, 'writable.conf');
  fs.copyFileSync(w.conf, bad);
  fs.chmodSync(bad, 0o664);
  const e = await throwsWith(vap.ConfigError, () => vap.open({ config: bad }));
  assert.match(e.message, /chmod go-w/);
});

test('AbiError for a library that is not a plugin', async () => {
  const other = path.join(w.dir, 'not-a-plugin.so');
  fs.copyFileSync(LIBVAPHOST, other);
  const e = await throwsWith(vap.AbiError, () => vap.load(other));
  assert.match(e.message, /vap_plugin_entry_v1/);
});

test('TLSError for the wrong CA', async (t) => {
  const ca = '/etc/ssl/certs/ca-certificates.crt';
  if (!fs.existsSync(ca)) return t.skip('no system CA bundle');
  const inst = vap.load(w.module, { ...w.options, ca_file: ca });
  await rejectsWith(vap.TLSError, inst.fetch('Patient'));
  await inst.close();
});

test('SealError for another keyring', async () => {
  const keyring = path.join(w.dir, 'other-keyring');
  execFileSync(VAP_SEAL, ['init', '--keyring', keyring], { stdio: 'ignore' });
  const inst = vap.load(w.module, { ...w.options, keyring });
  const e = await rejectsWith(vap.SealError, inst.fetch('Patient'));
  assert.match(e.message, /keyring/);
  await inst.close();
});

test('Cancelled when the signal aborts during a slow FHIR answer', () => fresh(async (fw, inst) => {
  await fw.control('faults', { route: FHIR, kind: 'latency', ms: 5000, count: 3 });
  await rejectsWith(vap.Cancelled, inst.fetch('Patient', { signal: AbortSignal.timeout(200) }));
}));

// Expire the access token, make the token endpoint slow, start a fetch that
// must renew, abort it; returns milliseconds from abort to rejection.
async function abortDuringSlowRenewal(fw, inst) {
  await fw.control('expire-access-tokens');
  await fw.control('faults', { route: TOKEN, kind: 'latency', ms: SLOW_MS, count: 1 });
  const ac = new AbortController();
  const call = inst.fetch('Patient', { query: '_count=1', signal: ac.signal });
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  ac.abort();
  await rejectsWith(vap.Cancelled, call);
  return Date.now() - t0;
}

test('AbortSignal ends the call during a slow token request', () => fresh(async (fw, inst) => {
  const took = await abortDuringSlowRenewal(fw, inst);
  assert.ok(took < SLOW_MS / 2, `abort took ${took} ms`);
}));

// An abort never abandons a token request already sent: the server rotated.
test('the grant survives an aborted renewal', () => fresh(async (fw, inst) => {
  await abortDuringSlowRenewal(fw, inst);
  // Let the slow token request reach the server and be answered.
  const t0 = Date.now();
  while ((await fw.counters()).token_requests.refresh_token < 1 && Date.now() - t0 < 30000) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  const r = await inst.fetch('Patient', { query: '_count=1', timeout: 20 });
  assert.equal(r.status, 200);
  r.close();
  const g = await inst.status();
  assert.ok(g.state === 'valid' && g.hasRefreshToken);
  const again = vap.open({ config: fw.conf });
  assert.equal((await again.refresh()).state, 'valid');
  await again.close();
}));

test('ProtocolError for a next link off the FHIR base', () => fresh(async (fw, inst) => {
  await fw.control('faults', { route: FHIR, kind: 'next_link_foreign', count: 50 });
  const e = await rejectsWith(vap.ProtocolError,
    inst.fetch('Patient', { query: '_count=3', allPages: true }));
  assert.match(e.message, /outside fhir_base/);
}));

test('Unsupported when the plugin lacks the call', async () => {
  const mod = path.join(w.dir, 'testmod_good.so');
  fs.copyFileSync(path.join(path.dirname(LIBVAPHOST), '..', 'tests', 'host', 'testmod_good.so'), mod);
  const t = vap.load(mod);
  await throwsWith(vap.Unsupported, () => t.fetch('Patient'));
  await t.close();
});

test('ConfigError when libvaphost is missing', () => {
  const out = execFileSync(process.execPath, ['-e', "const vap = require('.'); " +
    'try { vap.configPath(); } catch (e) { console.log(e.name, e.message); }'],
  { cwd: path.join(__dirname, '..'), encoding: 'utf8',
    env: { ...process.env, VAP_HOST_LIB: '/nonexistent/libvaphost.so.1' } });
  assert.match(out, /^ConfigError cannot load libvaphost \(\/nonexistent\/libvaphost\.so\.1\).*VAP_HOST_LIB/);
});
