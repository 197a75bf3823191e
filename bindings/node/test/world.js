'use strict';
// A practice in a temporary directory for the binding's tests: the bundled
// OpenEMR simulator on a free loopback port (auto-approving staff logins), a
// keyring and store made with vap-seal, a plugins.conf, and a grant made
// with vap-host authorize --no-listen (the test plays the browser).
// The build tree comes from $VAP_BUILD_DIR (default: the repository's build/).
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BUILD = path.resolve(process.env.VAP_BUILD_DIR || path.join(ROOT, 'build'));
const VAP_HOST = path.join(BUILD, 'host-sdk', 'vap-host');
const VAP_SEAL = path.join(BUILD, 'crypto', 'vap-seal');
const SIM = path.join(BUILD, 'tests', 'sim', 'openemr-sim');
const PLUGIN = path.join(BUILD, 'plugin', 'vap_openemr.so');
const LIBVAPHOST = path.join(BUILD, 'host-sdk', 'libvaphost.so.1');
const CLIENT_ID = 'binding-client';
const SECRET = 'binding-secret-7f3e9a1c55d2';
const REDIRECT = 'http://localhost:8765/oauth/callback';
const SCOPE = 'openid fhirUser offline_access api:fhir api:oemr user/Patient.read ' +
  'user/Appointment.read user/MedicationRequest.read user/Encounter.read ' +
  'user/patient.read user/encounter.read user/soap_note.write';

if (!process.env.VAP_HOST_LIB) process.env.VAP_HOST_LIB = LIBVAPHOST;

function run(cmd, args, input) {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

class World {
  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vap-node-'));
    this.conf = path.join(this.dir, 'plugins.conf');
    this.module = path.join(this.dir, 'vap_openemr.so');
    this.sim = null;
  }

  async start({ authorize = true } = {}) {
    fs.copyFileSync(PLUGIN, this.module);
    fs.chmodSync(this.module, 0o755);
    this.sim = spawn(SIM, ['--port', '0', '--state-dir', path.join(this.dir, 'sim'),
      '--auto-approve', 'admin', '--quiet',
      '--client', `${CLIENT_ID}:${SECRET}:${REDIRECT}:${SCOPE}`],
    { stdio: ['ignore', 'pipe', 'ignore'] });
    const lines = readline.createInterface({ input: this.sim.stdout });
    this.base = await new Promise((resolve, reject) => {
      lines.once('line', (l) => resolve(l.trim()));
      this.sim.once('exit', () => reject(new Error('the simulator did not start')));
    });
    lines.close();
    this.ca = path.join(this.dir, 'sim', 'ca.pem');
    this.agent = new https.Agent({ ca: fs.readFileSync(this.ca), keepAlive: false });
    const issuer = `${this.base}/oauth2/default`;
    const store = path.join(this.dir, 'store');
    const keyring = path.join(this.dir, 'keyring');
    fs.mkdirSync(store, { mode: 0o700 });
    run(VAP_SEAL, ['init', '--keyring', keyring]);
    run(VAP_SEAL, ['put', '--keyring', keyring, '--store', store, '--issuer', issuer,
      '--client-id', CLIENT_ID, 'client_secret'], SECRET);
    this.options = {
      issuer, fhir_base: `${this.base}/apis/default/fhir`, client_id: CLIENT_ID,
      redirect_uri: REDIRECT, scope: SCOPE, store, keyring, ca_file: this.ca,
    };
    const line = Object.entries(this.options).map(([k, v]) => `${k}="${v}"`).join(' ');
    fs.writeFileSync(this.conf, `emr ${this.module} ${line}\n`, { mode: 0o600 });
    if (authorize) await this.authorize();
    return this;
  }

  async stop() {
    if (this.sim) {
      const exited = new Promise((r) => this.sim.once('exit', r));
      this.sim.kill('SIGTERM');
      await exited;
      this.sim = null;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  request(method, url, body) {
    return new Promise((resolve, reject) => {
      const req = https.request(url, { method, agent: this.agent,
        headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
          body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  // vap-host authorize --no-listen; the simulated login approves.
  async authorize() {
    const p = spawn(VAP_HOST, ['-q', '-c', this.conf, 'authorize', '--no-browser',
      '--no-listen', '--wait', '30'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const lines = readline.createInterface({ input: p.stdout });
    const url = await new Promise((resolve) => lines.once('line', resolve));
    const r = await this.request('GET', url.trim());
    if (r.status !== 302) throw new Error(`the simulated login answered ${r.status}`);
    const done = new Promise((resolve) => p.once('exit', resolve));
    p.stdin.end(`${r.headers.location}\n`);
    const code = await done;
    lines.close();
    if (code !== 0) throw new Error(`vap-host authorize failed: ${err.trim()}`);
  }

  async control(action, body = {}) {
    const r = await this.request('POST', `${this.base}/_sim/${action}`, JSON.stringify(body));
    if (r.status !== 200) throw new Error(`/_sim/${action}: ${r.status} ${r.body}`);
    return JSON.parse(r.body);
  }

  async counters() {
    return JSON.parse((await this.request('GET', `${this.base}/_sim/counters`)).body);
  }
}

module.exports = { World, SECRET, CLIENT_ID, LIBVAPHOST, VAP_SEAL, BUILD };
