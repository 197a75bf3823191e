"""asyncio: the calls on the thread pool, and cancellation that fires the
call's cancel token and leaves the grant alive."""

import asyncio
import time

import pytest

import vap

TOKEN = "/oauth2/default/token"
SLOW_MS = 6000


def run(coro):
    return asyncio.run(coro)


def test_async_calls_return_what_the_sync_ones_do(emr):
    async def main():
        with await emr.afetch("Patient", {"_count": "1"}) as r:
            assert r.status == 200 and r.json()["resourceType"] == "Bundle"
        assert (await emr.astatus()).state == "valid"
        assert (await emr.afind_patient(name="Smith"))[0]["name"].endswith("Smith")
        await emr.areload()
    run(main())


def test_async_refresh(fresh_emr):
    async def main():
        g0 = await fresh_emr.astatus()
        g1 = await fresh_emr.arefresh()
        assert g1.generation > g0.generation
    run(main())


def test_async_errors_are_the_same_classes(emr):
    async def main():
        with pytest.raises(vap.Denied):
            await emr.afetch("Observation")
    run(main())


def test_sixteen_concurrent_async_calls(emr):
    async def main():
        rs = await asyncio.gather(*(emr.afetch("Patient", "_count=1") for _ in range(16)))
        assert [r.status for r in rs] == [200] * 16
        for r in rs:
            r.close()
    run(main())


def _slow_token_then_cancel(w, emr, cancel_after: float):
    """Expire the access token and make the token endpoint slow, start a
    fetch (which must renew), cancel the task; returns seconds to end."""
    w.control("expire-access-tokens")
    w.control("faults", {"route": TOKEN, "kind": "latency", "ms": SLOW_MS, "count": 1})

    async def main():
        task = asyncio.create_task(emr.afetch("Patient", "_count=1"))
        await asyncio.sleep(cancel_after)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0
    return run(main())


def test_cancelling_the_task_ends_the_call_during_a_slow_token_request(fresh, fresh_emr):
    took = _slow_token_then_cancel(fresh, fresh_emr, 0.3)
    # well before the slow request would have answered
    assert took < SLOW_MS / 1000 / 2, f"cancel took {took:.2f}s"


# A cancel never abandons a token request already sent (renewal on the
# plugin's own clock): the server rotated, so the new grant must be kept.
def test_the_grant_survives_a_cancelled_renewal(fresh, fresh_emr):
    _slow_token_then_cancel(fresh, fresh_emr, 0.3)
    # Let the slow token request reach the server and be answered.
    t0 = time.monotonic()
    while fresh.counters()["token_requests"]["refresh_token"] < 1 and \
            time.monotonic() - t0 < 30:
        time.sleep(0.1)
    time.sleep(0.5)
    # The renewal finishes on the plugin's own clock; the next call is served.
    with fresh_emr.fetch("Patient", "_count=1", timeout=SLOW_MS / 1000 + 10) as r:
        assert r.status == 200
    g = fresh_emr.status()
    assert g.state == "valid" and g.has_refresh_token
    assert fresh.counters()["revoked_refresh_reuse"] == 0
    # and a new instance (another process would do the same) finds it sealed
    with vap.open(fresh.conf) as again:
        assert again.refresh().state == "valid"
