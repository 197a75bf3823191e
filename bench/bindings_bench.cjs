'use strict';
// The Node binding beside Node's global fetch, against the bench nginx.
// Usage: NODE_EXTRA_CA_CERTS=CA node bindings_bench.cjs BASE CA MODULE WORKDIR N
// Prints one row per client and concurrency: req/s, p50 (us), CPU per request
// (us, this process: the plugin and libcurl run inside it), ratio to fetch.
const path = require('node:path');
const vap = require(path.join(__dirname, '..', 'bindings', 'node'));

const TOKEN = 'bench-access-token-0123456789abcdef';
const [base, ca, modulePath, work, nArg] = process.argv.slice(2);
const n = Number(nArg);
const fhir = `${base}/apis/default/fhir`;
const emr = vap.load(modulePath, { issuer: `${base}/oauth2/default`, fhir_base: fhir,
  client_id: 'bench-client', ca_file: ca, store: `${work}/store`, keyring: `${work}/keyring`,
  scope: 'openid offline_access api:fhir user/Patient.read', connections: 64 });

async function oneVap() {
  const r = await emr.fetch('Patient/1');
  if (r.status !== 200 || r.body.length !== 4096) throw new Error('bad answer');
  r.close();
}

async function oneFetch() {
  const r = await fetch(`${fhir}/Patient/1`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const b = Buffer.from(await r.arrayBuffer());
  if (r.status !== 200 || b.length !== 4096) throw new Error('bad answer');
}

async function run(fn, conc, total) {
  const per = Math.floor(total / conc);
  await Promise.all(Array.from({ length: conc }, fn)); // warm one connection each
  const lat = [];
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: conc }, async () => {
    for (let i = 0; i < per; i++) {
      const t = process.hrtime.bigint();
      await fn();
      lat.push(Number(process.hrtime.bigint() - t));
    }
  }));
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const cpu = process.cpuUsage(c0);
  lat.sort((a, b) => a - b);
  const done = per * conc;
  return [done / wall, lat[lat.length >> 1] / 1000, (cpu.user + cpu.system) / done];
}

(async () => {
  const pad = (s, w) => String(s).padStart(w);
  console.log(`${'Node: warm GET of a 4 KB Patient'.padEnd(40)} ${pad('req/s', 9)} ${pad('p50 us', 9)} ${pad('CPU us/req', 11)} ${pad('ratio', 7)}`);
  for (const conc of [1, 16]) {
    const best = (x, y) => (y[0] > x[0] ? y : x);
    // twice each, interleaved, best of two
    let a = await run(oneFetch, conc, n / 2);
    let b = await run(oneVap, conc, n);
    a = best(a, await run(oneFetch, conc, n / 2));
    b = best(b, await run(oneVap, conc, n));
    const row = (label, r, ratio) => console.log(`${label.padEnd(40)} ${pad(r[0].toFixed(0), 9)} ${pad(r[1].toFixed(1), 9)} ${pad(r[2].toFixed(1), 11)} ${pad(ratio.toFixed(2), 7)}`);
    row(`global fetch, ${String(conc).padStart(2)} in flight`, a, 1);
    row(`vap-openemr, ${String(conc).padStart(2)} in flight`, b, b[0] / a[0]);
  }
  await emr.close();
})().catch((e) => { console.error(e.message); process.exit(1); });
