"""The Pipecat handlers called directly (as Pipecat's LLM service would),
against the simulator."""

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python", "tests"))

from world import SECRET, World  # noqa: E402

import vap  # noqa: E402
from practice_tools import PracticeTools, speakable  # noqa: E402


@dataclass
class Params:
    """The fields of Pipecat's FunctionCallParams a handler uses."""
    function_name: str
    arguments: dict
    tool_call_id: str = "call-1"
    llm: Any = None
    context: Any = None
    results: list = field(default_factory=list)

    async def result_callback(self, result, properties=None):
        self.results.append(result)


@pytest.fixture(scope="module")
def world():
    w = World().start()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def tools(world):
    with vap.open(world.conf) as emr:
        yield PracticeTools(emr)


def call(tools, tool, **args):
    p = Params(tool, args)
    asyncio.run(tools.handlers()[tool](p))
    assert len(p.results) == 1
    text = json.dumps(p.results[0])
    for bad in ("eyJ", "def502", SECRET):
        assert bad not in text
    return p.results[0]


def test_schema_lists_the_four_tools(tools):
    names = [f.name for f in tools.schema().standard_tools]
    assert names == ["find_patient", "next_appointment", "current_medications", "write_note"]
    assert set(tools.handlers()) == set(names)

    class FakeLLM:
        registered = {}

        def register_function(self, name, handler, cancel_on_interruption=True):
            self.registered[name] = (handler, cancel_on_interruption)
    llm = FakeLLM()
    tools.register(llm)
    assert set(llm.registered) == set(names)


def test_the_four_tools_answer(tools):
    found = call(tools, "find_patient", name="Smith")
    pid, born = found["matches"][0]["id"], found["matches"][0]["birthDate"]
    assert pid in [m["id"] for m in call(tools, "find_patient", name="Smith",
                                         birthdate=born)["matches"]]
    appt = call(tools, "next_appointment", patient_id=pid)
    with tools.emr.fetch("Appointment", {"patient": pid}) as r:
        starts = sorted((e["resource"]["start"] for e in r.json().get("entry") or []),
                        key=lambda s: s)
    future = [s for s in starts if s >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())]
    assert (appt["appointment"] or {}).get("start") == (future[0] if future else None)
    meds = call(tools, "current_medications", patient_id=pid)["medications"]
    assert meds and all(isinstance(m, str) and m for m in meds)
    note = call(tools, "write_note", patient_id=pid, subjective="Asked about a visit.",
                objective="Phone call.", assessment="Information request.", plan="Read back.")
    assert note["written"] is True


def test_unavailable_is_spoken(world, tools):
    world.control("faults", {"route": "/apis/default/fhir/Appointment*", "kind": "5xx",
                             "count": 50})
    try:
        r = call(tools, "next_appointment", patient_id="x")
        assert "can't reach the practice's records right now" in r["error"]
    finally:
        world.control("faults/clear")


def test_interruption_cancels_the_request(world, tools):
    world.control("faults", {"route": "/apis/default/fhir/Patient*", "kind": "latency",
                             "ms": 5000, "count": 1})
    p = Params("find_patient", {"name": "Smith"})

    async def main():
        task = asyncio.create_task(tools.find_patient(p))
        await asyncio.sleep(0.2)
        t0 = time.monotonic()
        task.cancel()        # what Pipecat does when the caller interrupts
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0
    try:
        assert asyncio.run(main()) < 2.5
        assert p.results == []
    finally:
        world.control("faults/clear")


def test_reauth_required_tells_staff_and_speaks_no_token(world, tools, caplog):
    world.control("revoke-refresh-tokens")
    world.control("expire-access-tokens")
    with caplog.at_level(logging.ERROR, logger="practice_tools"):
        r = call(tools, "find_patient", name="Smith")
    assert "staff to sign in again" in r["error"]
    assert "vap-host authorize" in caplog.text
    for bad in ("eyJ", "def502", SECRET):
        assert bad not in caplog.text


def test_other_classes_are_spoken():
    assert "not allowed" in speakable(vap.Denied("x"))
    assert "not letting me in" in speakable(vap.ClientRejected("x"))
    assert "can't reach" in speakable(vap.Timeout("x"))
