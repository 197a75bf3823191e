"""Every call of the binding against the simulator."""

import gc
import os
import threading

import pytest

import vap


def test_open_reads_the_config_given(world):
    with vap.open(world.conf) as emr:
        assert emr.name == "emr" and emr.plugin == "openemr"
        assert emr.status().state == "valid"


def test_open_reads_vap_config_when_no_config_given(world, monkeypatch):
    monkeypatch.setenv("VAP_CONFIG", world.conf)
    assert vap.config_path() == world.conf
    with vap.open(instance="emr") as emr:
        assert emr.status().state == "valid"


def test_open_falls_back_to_etc_vap_plugins_conf(monkeypatch):
    monkeypatch.delenv("VAP_CONFIG", raising=False)
    assert vap.config_path() == "/etc/vap/plugins.conf"
    if os.path.exists("/etc/vap/plugins.conf"):
        pytest.skip("this machine has an /etc/vap/plugins.conf")
    with pytest.raises(vap.ConfigError, match="/etc/vap/plugins.conf"):
        vap.open()


def test_load_takes_module_and_options(world):
    with vap.load(world.module, **world.options) as emr:
        assert emr.status().state == "valid"


def test_fetch_returns_status_headers_body_and_json(emr):
    with emr.fetch("Patient", {"_count": "2"}) as r:
        assert r.status == 200
        assert r.headers["content-type"].startswith("application/")
        assert isinstance(r.body, bytes) and r.body.startswith(b"{")
        bundle = r.json()
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == 2


def test_fetch_all_pages_merges_one_bundle(emr):
    with emr.fetch("Patient", "_count=5", all_pages=True) as r:
        merged = r.json()
        assert r.pages > 1
    assert len(merged["entry"]) > 5


def test_fetch_post_to_the_standard_api(emr):
    pat = emr.find_patient(name="Smith")[0]
    with emr.fetch(f"patient/{pat['id']}", api=True) as r:
        pid = r.json()["data"]["pid"]
    with emr.fetch(f"patient/{pat['id']}/encounter", api=True) as r:
        eid = r.json()["data"][0]["eid"]
    note = {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"}
    with emr.fetch(f"patient/{pid}/encounter/{eid}/soap_note", method="POST", body=note,
                   api=True) as r:
        assert r.status in (200, 201) and "sid" in r.text()


def test_find_patient_by_name_birthdate_and_phone(emr):
    smith = emr.find_patient(name="Smith")
    assert smith and all(set(p) >= {"id", "name"} for p in smith)
    one = smith[0]
    again = emr.find_patient(name="Smith", birthdate=one["birthDate"])
    assert one["id"] in [p["id"] for p in again]
    assert one["id"] in [p["id"] for p in emr.find_patient(phone=one["phone"])]
    assert emr.find_patient(name="Nobody-By-This-Name") == []


def test_find_patient_refuses_bad_arguments(emr):
    with pytest.raises(vap.InvalidArgument):
        emr.find_patient()
    with pytest.raises(vap.InvalidArgument, match="YYYY-MM-DD"):
        emr.find_patient(name="Smith", birthdate="15/03/1962")


def test_status_refresh_and_reload(fresh_emr):
    before = fresh_emr.status()
    assert before.state == "valid" and before.has_refresh_token
    after = fresh_emr.refresh()
    assert after.generation > before.generation
    fresh_emr.reload()
    assert fresh_emr.status().generation == after.generation


def test_grant_shows_no_token(emr):
    text = repr(emr.status()) + repr(emr)
    assert "eyJ" not in text and "def502" not in text


def test_response_close_releases_the_plugins_copy(emr):
    with emr.fetch("Patient", "_count=1") as r:
        assert r.body
    assert not r._finalizer.alive          # release() ran
    with pytest.raises(vap.InvalidArgument, match="closed"):
        r.body


def test_response_finalizer_releases_when_dropped(emr):
    r = emr.fetch("Patient", "_count=1")
    fin = r._finalizer
    assert fin.alive
    del r
    gc.collect()
    assert not fin.alive


def test_instance_close_waits_and_refuses_later_calls(world):
    emr = vap.open(world.conf)
    emr.close()
    with pytest.raises(vap.InvalidArgument, match="closed"):
        emr.status()


def test_sixteen_threads_share_one_instance_and_one_refresh(fresh):
    with vap.open(fresh.conf) as emr:
        fresh.control("expire-access-tokens")
        before = fresh.counters()["token_requests"]["refresh_token"]
        results, errors = [], []
        go = threading.Barrier(16)

        def work():
            go.wait()
            try:
                with emr.fetch("Patient", "_count=1") as r:
                    results.append(r.status)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and results == [200] * 16
        assert fresh.counters()["token_requests"]["refresh_token"] - before == 1
