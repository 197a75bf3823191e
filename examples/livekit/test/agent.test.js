'use strict';
// The agent's tools, built with the real @livekit/agents, executed against
// the simulator (no LiveKit server): each answers, and each failure becomes
// a sentence without a token.
const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { llm } = require('@livekit/agents');
const { World } = require('../../../bindings/node/test/world');
const vap = require('vap-openemr');
const agent = require('../agent');

let w;
let emr;
let tools;
before(async () => {
  w = await new World().start();
  emr = vap.open({ config: w.conf });
  tools = agent.createTools(emr);
});
after(async () => { await emr.close(); await w.stop(); });

const run = (name, args, signal = new AbortController().signal) =>
  tools[name].execute(args, { ctx: {}, toolCallId: `call-${name}`, abortSignal: signal });

function noSecret(value) {
  const text = JSON.stringify(value);
  for (const bad of ['eyJ', 'def502', 'binding-secret']) assert.ok(!text.includes(bad), text);
}

test('the four tools are LiveKit function tools with schemas', () => {
  assert.deepEqual(Object.keys(tools).sort(),
    ['current_medications', 'find_patient', 'next_appointment', 'write_note']);
  for (const [name, t] of Object.entries(tools)) {
    assert.ok(llm.isFunctionTool(t), `${name} is not a function tool`);
    assert.equal(t.name, name);
    assert.ok(t.description.length > 10 && t.parameters);
  }
  const a = new agent.FrontDeskAgent(emr);
  assert.ok(a.instructions.includes('find_patient'));
});

test('find_patient, next_appointment, current_medications, write_note', async () => {
  const found = await run('find_patient', { name: 'Smith' });
  assert.ok(found.matches.length > 0, JSON.stringify(found));
  const { id, birthDate } = found.matches[0];
  const exact = await run('find_patient', { name: 'Smith', birthdate: birthDate });
  assert.ok(exact.matches.some((m) => m.id === id));

  const appt = await run('next_appointment', { patient_id: id });
  const all = await emr.fetchJSON('Appointment', { query: { patient: id } });
  const future = (all.entry || []).map((e) => e.resource.start)
    .filter((s) => Date.parse(s) >= Date.now()).sort((a, b) => Date.parse(a) - Date.parse(b));
  if (future.length) assert.equal(appt.appointment.start, future[0]);
  else assert.equal(appt.appointment, null);

  const meds = await run('current_medications', { patient_id: id });
  assert.ok(Array.isArray(meds.medications) && meds.medications.length > 0);
  assert.ok(meds.medications.every((m) => typeof m === 'string' && m.length > 0));

  const note = await run('write_note', { patient_id: id, subjective: 'Asked about visit.',
    objective: 'Phone call.', assessment: 'Information request.', plan: 'Read back the date.' });
  assert.equal(note.written, true, JSON.stringify(note));
  noSecret([found, appt, meds, note]);
});

test('Denied is spoken as not allowed', async () => {
  assert.equal(agent.speakable(new vap.Denied('x')), "I'm not allowed to see that part of the record.");
});

test('Unavailable: "I can\'t reach the practice\'s records right now"', async () => {
  await w.control('faults', { route: '/apis/default/fhir/Appointment*', kind: '5xx', count: 50 });
  try {
    const r = await run('next_appointment', { patient_id: 'x' });
    assert.match(r.error, /can't reach the practice's records right now/);
    noSecret(r);
  } finally { await w.control('faults/clear'); }
});

test('a hang-up (abortSignal) ends the tool call', async () => {
  await w.control('faults', { route: '/apis/default/fhir/Patient*', kind: 'latency', ms: 5000, count: 1 });
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = Date.now();
    const r = await run('find_patient', { name: 'Smith' }, ac.signal);
    assert.ok(Date.now() - t0 < 2500, 'the abort did not end the call');
    assert.match(r.error, /stopped/);
  } finally { await w.control('faults/clear'); }
});

test('ReauthRequired: tell staff to re-authorize, say no token', async () => {
  await w.control('revoke-refresh-tokens');
  await w.control('expire-access-tokens');
  const logged = [];
  const orig = console.error;
  console.error = (line) => logged.push(line);
  try {
    const r = await run('find_patient', { name: 'Smith' });
    assert.match(r.error, /staff to sign in again/);
    assert.ok(logged.some((l) => l.includes('vap-host authorize')), logged.join('\n'));
    noSecret([r, logged]);
  } finally { console.error = orig; }
});

test('ClientRejected is spoken as not letting me in', () => {
  assert.match(agent.speakable(new vap.ClientRejected('x')), /not letting me in/);
  assert.match(agent.speakable(new vap.Timeout('x')), /can't reach/);
});

