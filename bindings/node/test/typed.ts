// Compiled (not run) by calls.test.js: the declarations describe the API.
import * as vap from '../lib/index';

async function main(): Promise<void> {
  const emr: vap.Instance = vap.open({ config: '/etc/vap/plugins.conf', logLevel: 'warning' });
  const ac = new AbortController();
  const r: vap.Response = await emr.fetch('Patient', { query: { name: 'Smith' }, timeout: 2,
    signal: ac.signal });
  const n: number = r.status;
  const b: Buffer = r.body;
  r.close();
  const g: vap.Grant = await emr.status();
  const people: vap.PatientMatch[] = await emr.findPatient({ name: 'Smith', birthdate: '1970-01-01' });
  try {
    await emr.refresh();
  } catch (e) {
    if (e instanceof vap.ReauthRequired) console.log(e.httpStatus, e.oauthError, n, b, g, people);
  }
  await emr.close();
}
void main;
