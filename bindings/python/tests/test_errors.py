"""Every error class, each carrying message, http_status and oauth_error,
and none carrying a token or secret."""

import os
import shutil
import subprocess
import sys
import threading

import pytest

import vap
from conftest import assert_clean
from world import LIBVAPHOST, VAP_SEAL

FHIR = "/apis/default/fhir/Patient*"


def raised(cls, fn):
    with pytest.raises(cls) as info:
        fn()
    e = info.value
    assert type(e) is cls, f"{type(e).__name__} raised, want {cls.__name__}"
    assert e.message and "\n" not in e.message and str(e) == e.message
    assert e.code == cls.code or cls is vap.ConfigError  # open keeps the C code (IO, ...)
    assert_clean(e)
    return e


def test_denied_names_the_missing_scope(emr):
    e = raised(vap.Denied, lambda: emr.fetch("Observation"))
    assert "user/Observation.read" in e.message and e.http_status in (401, 403)


def test_http_error_keeps_the_body(emr):
    e = raised(vap.HTTPError, lambda: emr.fetch("Patient/no-such-patient"))
    assert e.http_status == 404 and e.response is not None and e.response.status == 404
    assert e.response.body is not None


def test_reauth_required_when_the_refresh_token_is_dead(fresh, fresh_emr):
    fresh.control("revoke-refresh-tokens")
    fresh.control("expire-access-tokens")
    e = raised(vap.ReauthRequired, lambda: fresh_emr.fetch("Patient"))
    assert e.http_status in (400, 401) and e.oauth_error
    assert fresh_emr.status().state == "reauth_required"


def test_client_rejected_names_invalid_client(fresh, fresh_emr):
    fresh.control("clients/enable", {"client_id": "binding-client", "enabled": False})
    fresh.control("expire-access-tokens")
    e = raised(vap.ClientRejected, lambda: fresh_emr.fetch("Patient"))
    assert e.oauth_error == "invalid_client" and e.http_status == 401


def test_unavailable_after_retries(fresh, fresh_emr):
    fresh.control("faults", {"route": FHIR, "kind": "5xx", "count": 50})
    e = raised(vap.Unavailable, lambda: fresh_emr.fetch("Patient"))
    assert e.http_status == 503


def test_timeout_at_the_callers_deadline(fresh, fresh_emr):
    fresh.control("faults", {"route": FHIR, "kind": "latency", "ms": 5000, "count": 3})
    raised(vap.Timeout, lambda: fresh_emr.fetch("Patient", timeout=0.3))


def test_cancelled_by_a_token_fired_from_another_thread(fresh, fresh_emr):
    fresh.control("faults", {"route": FHIR, "kind": "latency", "ms": 5000, "count": 3})
    with fresh_emr.cancel_token() as tok:
        threading.Timer(0.2, tok.cancel).start()
        raised(vap.Cancelled, lambda: fresh_emr.fetch("Patient", cancel=tok))


def test_invalid_argument_for_a_bad_method(emr):
    raised(vap.InvalidArgument, lambda: emr.fetch("Patient", method="DELETE"))


def test_config_error_names_the_unknown_option(world):
    e = raised(vap.ConfigError, lambda: vap.load(world.module, **world.options, colour="x"))
    assert "colour" in e.message


def test_config_error_for_a_missing_config(world):
    e = raised(vap.ConfigError, lambda: vap.open(world.dir + "/none.conf"))
    assert "none.conf" in e.message and "VAP_CONFIG" in e.message and "-c CONFIG" not in e.message


def test_config_error_for_an_unknown_instance(world):
    e = raised(vap.ConfigError, lambda: vap.open(world.conf, "other"))
    assert "instance=" in e.message and "-i NAME" not in e.message


def test_config_error_for_a_group_writable_config(world):
    bad = os.path.join(world.dir, "writable.conf")
    shutil.copy(world.conf, bad)
    os.chmod(bad, 0o664)
    e = raised(vap.ConfigError, lambda: vap.open(bad))
    assert "chmod go-w" in e.message


def test_abi_error_for_a_library_that_is_not_a_plugin(world):
    other = os.path.join(world.dir, "not-a-plugin.so")
    shutil.copy(LIBVAPHOST, other)
    e = raised(vap.AbiError, lambda: vap.load(other))
    assert "vap_plugin_entry_v1" in e.message


def test_tls_error_for_the_wrong_ca(world):
    opts = dict(world.options, ca_file="/etc/ssl/certs/ca-certificates.crt")
    if not os.path.exists(opts["ca_file"]):
        pytest.skip("no system CA bundle")
    with vap.load(world.module, **opts) as emr:
        raised(vap.TLSError, lambda: emr.fetch("Patient"))


def test_seal_error_for_another_keyring(world):
    keyring = os.path.join(world.dir, "other-keyring")
    if not os.path.exists(keyring):
        subprocess.run([VAP_SEAL, "init", "--keyring", keyring], check=True,
                       stdout=subprocess.DEVNULL)
    with vap.load(world.module, **dict(world.options, keyring=keyring)) as emr:
        e = raised(vap.SealError, lambda: emr.fetch("Patient"))
    assert "keyring" in e.message


def test_truncated_answer_is_unavailable_not_a_crash(fresh, fresh_emr):
    fresh.control("faults", {"route": FHIR, "kind": "truncated", "count": 50})
    raised(vap.Unavailable, lambda: fresh_emr.fetch("Patient"))


def test_protocol_error_for_a_next_link_off_the_fhir_base(fresh, fresh_emr):
    fresh.control("faults", {"route": FHIR, "kind": "next_link_foreign", "count": 50})
    e = raised(vap.ProtocolError, lambda: fresh_emr.fetch("Patient", "_count=3",
                                                          all_pages=True))
    assert "outside fhir_base" in e.message


def test_unsupported_when_the_plugin_lacks_the_call(world):
    mod = os.path.join(world.dir, "testmod_good.so")
    shutil.copy(os.path.join(os.path.dirname(LIBVAPHOST), "..", "tests", "host",
                             "testmod_good.so"), mod)
    with vap.load(mod) as t:
        raised(vap.Unsupported, lambda: t.fetch("Patient"))


def test_config_error_when_libvaphost_is_missing():
    code = ("import vap\ntry:\n    vap.config_path()\nexcept vap.ConfigError as e:\n"
            "    print(e)\n")
    env = dict(os.environ, VAP_HOST_LIB="/nonexistent/libvaphost.so.1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=os.path.join(os.path.dirname(__file__), ".."))
    assert "cannot load libvaphost (/nonexistent/libvaphost.so.1)" in out.stdout
    assert "VAP_HOST_LIB" in out.stdout
