"""Pipecat function-call handlers for a medical practice's front desk.

Four tools -- find_patient, next_appointment, current_medications and
write_note -- reach the practice's OpenEMR through the ``vap`` binding: the
plugin keeps the grant alive and does the FHIR requests, so no token is ever
in this process.  The shape is Pipecat's: a ``FunctionSchema`` per tool in a
``ToolsSchema`` for the LLM context, and an async handler per tool that takes
``FunctionCallParams`` and answers through ``params.result_callback``::

    import vap
    from practice_tools import PracticeTools

    tools = PracticeTools(vap.open())
    context = LLMContext(messages, tools=tools.schema())
    tools.register(llm)                   # llm.register_function(name, handler)

Pipecat cancels a handler's task when the caller interrupts; the ``a*``
calls of ``vap`` turn that into the plugin's cancel token, so the request to
the practice ends at once.  Every failure becomes a sentence the bot can say
(``speakable``); the detail, which names the fix and never a token, goes to
the log for staff.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any, Awaitable, Callable

import vap

try:  # Pipecat's schema classes when it is installed ...
    from pipecat.adapters.schemas.function_schema import FunctionSchema
    from pipecat.adapters.schemas.tools_schema import ToolsSchema
except ImportError:  # ... else stand-ins with the same fields
    from dataclasses import dataclass, field

    @dataclass
    class FunctionSchema:  # type: ignore[no-redef]
        name: str
        description: str
        properties: dict[str, Any]
        required: list[str] = field(default_factory=list)

    @dataclass
    class ToolsSchema:  # type: ignore[no-redef]
        standard_tools: list[FunctionSchema]

log = logging.getLogger("practice_tools")

_STAFF_ACTION = {
    vap.ReauthRequired: "a staff member must run: vap-host authorize",
    vap.ClientRejected: "the practice admin must check the API client in OpenEMR",
    vap.ConfigError: "the practice admin must fix plugins.conf",
}


def speakable(e: vap.VapError) -> str:
    """What the bot says for an error class (never a token or detail)."""
    if isinstance(e, vap.Unavailable):  # Timeout is a kind of Unavailable
        return "I can't reach the practice's records right now. Please try again in a few minutes."
    if isinstance(e, vap.ReauthRequired):
        return ("The practice's connection to its records has expired. I'll ask the staff to "
                "sign in again to reconnect it; until then I cannot look anything up.")
    if isinstance(e, (vap.ClientRejected, vap.ConfigError)):
        return ("The practice's records system is not letting me in right now. I'll let the "
                "staff know so they can fix it.")
    if isinstance(e, vap.Denied):
        return "I'm not allowed to see that part of the record."
    if isinstance(e, vap.HTTPError) and e.http_status == 404:
        return "I couldn't find that record."
    return "Something went wrong reading the record. A staff member will follow up."


def _failure(e: vap.VapError) -> dict[str, str]:
    todo = next((t for cls, t in _STAFF_ACTION.items() if isinstance(e, cls)), None)
    log.error("vap: %s: %s%s", type(e).__name__, e.message, f" ({todo})" if todo else "")
    return {"error": speakable(e)}


def _code_text(cc: Any) -> str:
    cc = cc or {}
    coding = (cc.get("coding") or [{}])[0]
    return cc.get("text") or coding.get("display") or "an unnamed medication"


def _when(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


_PATIENT_ID = {"patient_id": {"type": "string", "description": "The id find_patient returned"}}


class PracticeTools:
    """The four handlers, bound to one open vap instance."""

    def __init__(self, emr: vap.Instance) -> None:
        self.emr = emr

    def schema(self) -> ToolsSchema:
        return ToolsSchema(standard_tools=[
            FunctionSchema(
                name="find_patient",
                description=("Find the caller's patient record by full name and date of "
                             "birth, or by phone number."),
                properties={
                    "name": {"type": "string", "description": "The caller's full name"},
                    "birthdate": {"type": "string", "description": "Date of birth, YYYY-MM-DD"},
                    "phone": {"type": "string", "description": "Phone number, if no name"},
                },
                required=[]),
            FunctionSchema(name="next_appointment",
                           description="The patient's next booked appointment.",
                           properties=dict(_PATIENT_ID), required=["patient_id"]),
            FunctionSchema(name="current_medications",
                           description="The patient's active medications.",
                           properties=dict(_PATIENT_ID), required=["patient_id"]),
            FunctionSchema(
                name="write_note",
                description="Write a SOAP note about this call to the latest encounter.",
                properties={**_PATIENT_ID, **{k: {"type": "string"} for k in
                                              ("subjective", "objective", "assessment",
                                               "plan")}},
                required=["patient_id", "subjective", "objective", "assessment", "plan"]),
        ])

    def handlers(self) -> dict[str, Callable[[Any], Awaitable[None]]]:
        return {"find_patient": self.find_patient, "next_appointment": self.next_appointment,
                "current_medications": self.current_medications, "write_note": self.write_note}

    def register(self, llm: Any) -> None:
        """llm.register_function for each tool (cancelled when the caller interrupts)."""
        for name, handler in self.handlers().items():
            llm.register_function(name, handler, cancel_on_interruption=True)

    async def _answer(self, params: Any, work: Callable[[dict], Awaitable[dict]]) -> None:
        try:
            result = await work(params.arguments or {})
        except vap.VapError as e:
            result = _failure(e)
        await params.result_callback(result)

    async def find_patient(self, params: Any) -> None:
        async def work(a: dict) -> dict:
            if a.get("name"):
                found = await self.emr.afind_patient(name=a["name"],
                                                     birthdate=a.get("birthdate") or None)
            elif a.get("phone"):
                found = await self.emr.afind_patient(phone=a["phone"])
            else:
                return {"error": "I need your full name and date of birth, or your phone number."}
            if not found:
                return {"matches": [], "say": "I couldn't find a record under that."}
            return {"matches": [{k: p.get(k) for k in ("id", "name", "birthDate")}
                                for p in found]}
        await self._answer(params, work)

    async def next_appointment(self, params: Any) -> None:
        async def work(a: dict) -> dict:
            with await self.emr.afetch("Appointment", {"patient": a["patient_id"]}) as r:
                bundle = r.json()
            now = time.time()
            booked = [e["resource"] for e in bundle.get("entry") or []
                      if e.get("resource", {}).get("start")
                      and e["resource"].get("status") != "cancelled"
                      and _when(e["resource"]["start"]) >= now]
            if not booked:
                return {"appointment": None, "say": "There is no upcoming appointment booked."}
            nxt = min(booked, key=lambda x: _when(x["start"]))
            return {"appointment": {"start": nxt["start"], "end": nxt.get("end"),
                                    "reason": nxt.get("description")}}
        await self._answer(params, work)

    async def current_medications(self, params: Any) -> None:
        async def work(a: dict) -> dict:
            with await self.emr.afetch("MedicationRequest", {"patient": a["patient_id"]},
                                       all_pages=True) as r:
                bundle = r.json()
            meds = [_code_text(m.get("medicationCodeableConcept"))
                    for m in (e.get("resource") or {} for e in bundle.get("entry") or [])
                    if m.get("status", "active") == "active"]
            return {"medications": meds}
        await self._answer(params, work)

    async def write_note(self, params: Any) -> None:
        async def work(a: dict) -> dict:
            pid_path = f"patient/{a['patient_id']}"
            with await self.emr.afetch(pid_path, api=True) as r:
                pid = r.json()["data"]["pid"]
            with await self.emr.afetch(f"{pid_path}/encounter", api=True) as r:
                encs = r.json().get("data") or []
            if not encs:
                return {"written": False, "say": "There is no visit to attach a note to."}
            latest = max(encs, key=lambda e: str(e.get("date")))
            note = {k: a[k] for k in ("subjective", "objective", "assessment", "plan")}
            with await self.emr.afetch(f"patient/{pid}/encounter/{latest['eid']}/soap_note",
                                       method="POST", body=note, api=True) as r:
                sid = r.json().get("sid")
            return {"written": True, "note_id": None if sid is None else str(sid)}
        await self._answer(params, work)
