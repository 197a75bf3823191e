'use strict';
// A LiveKit Agents voice agent for a medical practice's front desk.  Its
// four tools reach the practice's OpenEMR through vap-openemr: the plugin
// keeps the grant alive and does the FHIR requests, so no token is ever in
// this process.  Each tool passes LiveKit's abortSignal on, so a caller who
// hangs up mid-request frees the call at once, and turns every failure into
// a sentence the agent can say (never a token, never an internal detail).
//
//   node agent.js dev        (needs LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)
const { cli, defineAgent, llm, voice, ServerOptions } = require('@livekit/agents');
const { z } = require('zod');
const vap = require('vap-openemr');

// What the agent says for each error class.  The detail goes to the log
// for staff (the plugin's message names the fix and never holds a secret).
function speakable(e) {
  if (e instanceof vap.Unavailable) { // Timeout is a kind of Unavailable
    return "I can't reach the practice's records right now. Please try again in a few minutes.";
  }
  if (e instanceof vap.ReauthRequired) {
    return "The practice's connection to its records has expired. I'll ask the staff to " +
      'sign in again to reconnect it; until then I cannot look anything up.';
  }
  if (e instanceof vap.ClientRejected || e instanceof vap.ConfigError) {
    return "The practice's records system is not letting me in right now. I'll let the " +
      'staff know so they can fix it.';
  }
  if (e instanceof vap.Denied) return "I'm not allowed to see that part of the record.";
  if (e instanceof vap.Cancelled) return 'Okay, I stopped looking that up.';
  if (e instanceof vap.HTTPError && e.httpStatus === 404) return "I couldn't find that record.";
  return 'Something went wrong reading the record. A staff member will follow up.';
}

const STAFF_ACTION = {
  ReauthRequired: 'a staff member must run: vap-host authorize',
  ClientRejected: 'the practice admin must check the API client in OpenEMR',
  ConfigError: 'the practice admin must fix plugins.conf',
};

function failure(e) {
  if (!(e instanceof vap.VapError)) throw e;
  const todo = STAFF_ACTION[e.name];
  console.error(`vap-openemr: ${e.name}: ${e.message}${todo ? ` (${todo})` : ''}`);
  return { error: speakable(e) };
}

const codeText = (cc) => (cc && (cc.text || (cc.coding && cc.coding[0] && cc.coding[0].display))) ||
  'an unnamed medication';

// The tools, bound to one open vap-openemr instance.
function createTools(emr) {
  const find_patient = llm.tool({
    name: 'find_patient',
    description: "Find the caller's patient record by full name and date of birth, or by " +
      'phone number. Returns the matching patients with their ids.',
    parameters: z.object({
      name: z.string().optional().describe("The caller's full name"),
      birthdate: z.string().optional().describe('Date of birth as YYYY-MM-DD'),
      phone: z.string().optional().describe('Phone number, if no name was given'),
    }),
    execute: async ({ name, birthdate, phone }, { abortSignal }) => {
      try {
        const q = name ? { name, ...(birthdate ? { birthdate } : {}) } : { phone };
        const found = await emr.findPatient({ ...q, signal: abortSignal });
        if (found.length === 0) return { matches: [], say: "I couldn't find a record under that." };
        return { matches: found.map(({ id, name: n, birthDate }) => ({ id, name: n, birthDate })) };
      } catch (e) {
        return failure(e);
      }
    },
  });

  const next_appointment = llm.tool({
    name: 'next_appointment',
    description: "The patient's next booked appointment (date, time and reason).",
    parameters: z.object({ patient_id: z.string().describe('The id find_patient returned') }),
    execute: async ({ patient_id }, { abortSignal }) => {
      try {
        const bundle = await emr.fetchJSON('Appointment',
          { query: { patient: patient_id }, signal: abortSignal });
        const now = Date.now();
        const next = (bundle.entry || []).map((x) => x.resource)
          .filter((a) => a && a.start && a.status !== 'cancelled' && Date.parse(a.start) >= now)
          .sort((a, b) => Date.parse(a.start) - Date.parse(b.start))[0];
        if (!next) return { appointment: null, say: 'There is no upcoming appointment booked.' };
        return { appointment: { start: next.start, end: next.end || null,
          reason: next.description || null } };
      } catch (e) {
        return failure(e);
      }
    },
  });

  const current_medications = llm.tool({
    name: 'current_medications',
    description: "The patient's active medications.",
    parameters: z.object({ patient_id: z.string().describe('The id find_patient returned') }),
    execute: async ({ patient_id }, { abortSignal }) => {
      try {
        const bundle = await emr.fetchJSON('MedicationRequest',
          { query: { patient: patient_id }, allPages: true, signal: abortSignal });
        const meds = (bundle.entry || []).map((x) => x.resource)
          .filter((m) => m && (!m.status || m.status === 'active'))
          .map((m) => codeText(m.medicationCodeableConcept));
        return { medications: meds };
      } catch (e) {
        return failure(e);
      }
    },
  });

  const write_note = llm.tool({
    name: 'write_note',
    description: "Write a SOAP note about this call to the patient's most recent encounter.",
    parameters: z.object({
      patient_id: z.string().describe('The id find_patient returned'),
      subjective: z.string(), objective: z.string(), assessment: z.string(), plan: z.string(),
    }),
    execute: async ({ patient_id, ...note }, { abortSignal }) => {
      try {
        const opts = { api: true, signal: abortSignal };
        const pat = await emr.fetchJSON(`patient/${encodeURIComponent(patient_id)}`, opts);
        const encs = await emr.fetchJSON(`patient/${encodeURIComponent(patient_id)}/encounter`, opts);
        const latest = (encs.data || []).slice().sort((a, b) => String(b.date).localeCompare(String(a.date)))[0];
        if (!pat.data || !latest) return { written: false, say: 'There is no visit to attach a note to.' };
        const r = await emr.fetchJSON(`patient/${pat.data.pid}/encounter/${latest.eid}/soap_note`,
          { ...opts, method: 'POST', body: note });
        return { written: true, note_id: r.sid !== undefined ? String(r.sid) : null };
      } catch (e) {
        return failure(e);
      }
    },
  });

  return { find_patient, next_appointment, current_medications, write_note };
}

class FrontDeskAgent extends voice.Agent {
  constructor(emr) {
    super({
      instructions: 'You answer the phone for a medical practice. Identify the caller with ' +
        'find_patient (full name and date of birth) before sharing anything from their record. ' +
        'When a tool returns "error", say that sentence to the caller as it is.',
      tools: Object.values(createTools(emr)),
    });
  }
}

module.exports = defineAgent({
  prewarm: (proc) => { proc.userData.emr = vap.open(); },
  entry: async (ctx) => {
    await ctx.connect();
    const session = new voice.AgentSession({
      stt: 'deepgram/nova-3', llm: 'openai/gpt-4.1-mini', tts: 'cartesia/sonic-2',
    });
    await session.start({ agent: new FrontDeskAgent(ctx.proc.userData.emr), room: ctx.room });
  },
});
module.exports.createTools = createTools;
module.exports.speakable = speakable;
module.exports.FrontDeskAgent = FrontDeskAgent;

if (require.main === module) cli.runApp(new ServerOptions({ agent: __filename }));
