'use strict';
// Every call of the binding against the simulator.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { after, before, test } = require('node:test');
const { World, withWorld } = require('./helpers');
const vap = require('..');

let w;
let emr;
before(async () => { w = await new World().start(); emr = vap.open({ config: w.conf }); });
after(async () => { await emr.close(); await w.stop(); });

test('open reads the config given', async () => {
  assert.equal(emr.name, 'emr');
  assert.equal(emr.plugin, 'openemr');
  assert.equal((await emr.status()).state, 'valid');
});

test('open reads $VAP_CONFIG when no config is given', async () => {
  process.env.VAP_CONFIG = w.conf;
  try {
    assert.equal(vap.configPath(), w.conf);
    const again = vap.open({ instance: 'emr' });
    assert.equal((await again.status()).state, 'valid');
    await again.close();
  } finally { delete process.env.VAP_CONFIG; }
});

test('open falls back to /etc/vap/plugins.conf', (t) => {
  assert.equal(vap.configPath(), '/etc/vap/plugins.conf');
  if (fs.existsSync('/etc/vap/plugins.conf')) return t.skip('this machine has one');
  assert.throws(() => vap.open(), (e) => e instanceof vap.ConfigError &&
    e.message.includes('/etc/vap/plugins.conf'));
});

test('load takes the module path and options', async () => {
  const inst = vap.load(w.module, w.options);
  assert.equal((await inst.status()).state, 'valid');
  await inst.close();
});

test('fetch returns status, headers, body bytes and json', async () => {
  const r = await emr.fetch('Patient', { query: { _count: 2 } });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /^application\//);
  assert.ok(Buffer.isBuffer(r.body) && r.body[0] === 0x7b);
  const bundle = r.json();
  r.close();
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.entry.length, 2);
});

test('fetch allPages merges one Bundle', async () => {
  const r = await emr.fetch('Patient', { query: '_count=5', allPages: true });
  assert.ok(r.pages > 1);
  assert.ok(r.json().entry.length > 5);
  r.close();
});

test('fetch POSTs to the standard API', async () => {
  const [pat] = await emr.findPatient({ name: 'Smith' });
  const { pid } = (await emr.fetchJSON(`patient/${pat.id}`, { api: true })).data;
  const { eid } = (await emr.fetchJSON(`patient/${pat.id}/encounter`, { api: true })).data[0];
  const r = await emr.fetch(`patient/${pid}/encounter/${eid}/soap_note`, { method: 'POST',
    api: true, body: { subjective: 's', objective: 'o', assessment: 'a', plan: 'p' } });
  assert.ok([200, 201].includes(r.status) && r.text().includes('sid'));
  r.close();
});

test('findPatient by name, birth date and phone', async () => {
  const smith = await emr.findPatient({ name: 'Smith' });
  assert.ok(smith.length > 0 && smith.every((p) => p.id && p.name));
  const one = smith[0];
  const byDate = await emr.findPatient({ name: 'Smith', birthdate: one.birthDate });
  assert.ok(byDate.some((p) => p.id === one.id));
  assert.ok((await emr.findPatient({ phone: one.phone })).some((p) => p.id === one.id));
  assert.deepEqual(await emr.findPatient({ name: 'Nobody-By-This-Name' }), []);
  await assert.rejects(emr.findPatient({}), vap.InvalidArgument);
  await assert.rejects(emr.findPatient({ name: 'Smith', birthdate: '15/03/1962' }),
    /YYYY-MM-DD/);
});

test('status, refresh and reload', () => withWorld(async (fw) => {
  const inst = vap.open({ config: fw.conf });
  const g0 = await inst.status();
  assert.ok(g0.state === 'valid' && g0.hasRefreshToken);
  const g1 = await inst.refresh();
  assert.ok(g1.generation > g0.generation);
  await inst.reload();
  assert.equal((await inst.status()).generation, g1.generation);
  await inst.close();
}));

test('a grant shows no token', async () => {
  const text = JSON.stringify(await emr.status());
  assert.ok(!text.includes('eyJ') && !text.includes('def502'));
});

test('close releases the plugin\'s copy of the response', async () => {
  const r = await emr.fetch('Patient', { query: '_count=1' });
  assert.ok(!r.closed);
  r.close();
  assert.ok(r.closed);
  assert.throws(() => r.body, vap.InvalidArgument);
});

test('a closed instance refuses calls', async () => {
  const inst = vap.open({ config: w.conf });
  await inst.close();
  await assert.rejects(inst.status(), /closed/);
});

test('16 concurrent calls on one instance share one refresh', () => withWorld(async (fw) => {
  const inst = vap.open({ config: fw.conf });
  await fw.control('expire-access-tokens');
  const beforeN = (await fw.counters()).token_requests.refresh_token;
  const rs = await Promise.all(Array.from({ length: 16 },
    () => inst.fetch('Patient', { query: '_count=1' })));
  assert.deepEqual(rs.map((r) => r.status), Array(16).fill(200));
  rs.forEach((r) => r.close());
  assert.equal((await fw.counters()).token_requests.refresh_token - beforeN, 1);
  await inst.close();
}));

test('the TypeScript declarations compile against a typed caller', () => {
  const { execFileSync } = require('node:child_process');
  const path = require('node:path');
  const tsc = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--lib', 'es2022,dom,esnext.disposable',
    '--types', 'node', '--typeRoots', path.join(__dirname, '..', 'node_modules', '@types'),
    '--skipLibCheck', path.join(__dirname, 'typed.ts')], { stdio: 'pipe' });
});

test('a dropped response is still released (finalizer backstop)', () => {
  const { execFileSync } = require('node:child_process');
  const code = `
    const vap = require(${JSON.stringify(require('node:path').join(__dirname, '..'))});
    const emr = vap.open({ config: ${JSON.stringify(w.conf)} });
    let released = 0;
    const release = emr._api.release;
    emr._api.release = (p) => { released++; release(p); };
    (async () => {
      await (async () => { const r = await emr.fetch('Patient', { query: '_count=1' }); void r.status; })();
      for (let i = 0; i < 20 && released === 0; i++) {
        global.gc();
        await new Promise((res) => setTimeout(res, 20));
      }
      console.log(released);
      await emr.close();
    })();`;
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8' });
  assert.equal(out.trim(), '1');
});
