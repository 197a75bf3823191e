"""A practice in a temporary directory, for the binding's tests: the bundled
OpenEMR simulator on a free loopback port (auto-approving staff logins), a
keyring and a store made with vap-seal, a plugins.conf, and a grant made
with vap-host authorize --no-listen (the test plays the browser).

The build tree comes from $VAP_BUILD_DIR (default: the repository's build/).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from typing import Any, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.path.abspath(os.environ.get("VAP_BUILD_DIR") or os.path.join(ROOT, "build"))
VAP_HOST = os.path.join(BUILD, "host-sdk", "vap-host")
VAP_SEAL = os.path.join(BUILD, "crypto", "vap-seal")
SIM = os.path.join(BUILD, "tests", "sim", "openemr-sim")
PLUGIN = os.path.join(BUILD, "plugin", "vap_openemr.so")
LIBVAPHOST = os.path.join(BUILD, "host-sdk", "libvaphost.so.1")

CLIENT_ID = "binding-client"
SECRET = "binding-secret-7f3e9a1c55d2"
REDIRECT = "http://localhost:8765/oauth/callback"
SCOPE = ("openid fhirUser offline_access api:fhir api:oemr user/Patient.read "
         "user/Appointment.read user/MedicationRequest.read user/Encounter.read "
         "user/patient.read user/encounter.read user/soap_note.write")

os.environ.setdefault("VAP_HOST_LIB", LIBVAPHOST)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a: Any, **k: Any) -> None:
        return None


class World:
    """start() brings it up; stop() tears it all down (process and files)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="vap-binding-")
        self.sim: Optional[subprocess.Popen] = None
        self.base = ""
        self.conf = os.path.join(self.dir, "plugins.conf")
        self.module = os.path.join(self.dir, "vap_openemr.so")
        self.options: dict[str, str] = {}

    # ---- lifecycle -------------------------------------------------------------
    def start(self, authorize: bool = True) -> "World":
        shutil.copy(PLUGIN, self.module)
        os.chmod(self.module, 0o755)
        self.sim = subprocess.Popen(
            [SIM, "--port", "0", "--state-dir", os.path.join(self.dir, "sim"),
             "--auto-approve", "admin", "--quiet",
             "--client", f"{CLIENT_ID}:{SECRET}:{REDIRECT}:{SCOPE}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.sim.stdout is not None
        self.base = self.sim.stdout.readline().strip()
        if not self.base.startswith("https://"):
            self.stop()
            raise RuntimeError("the simulator did not start")
        self.ca = os.path.join(self.dir, "sim", "ca.pem")
        self.ssl = ssl.create_default_context(cafile=self.ca)
        issuer = f"{self.base}/oauth2/default"
        store, keyring = os.path.join(self.dir, "store"), os.path.join(self.dir, "keyring")
        os.mkdir(store, 0o700)
        subprocess.run([VAP_SEAL, "init", "--keyring", keyring], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([VAP_SEAL, "put", "--keyring", keyring, "--store", store, "--issuer",
                        issuer, "--client-id", CLIENT_ID, "client_secret"], check=True,
                       input=SECRET, text=True, stdout=subprocess.DEVNULL)
        self.options = {"issuer": issuer, "fhir_base": f"{self.base}/apis/default/fhir",
                        "client_id": CLIENT_ID, "redirect_uri": REDIRECT, "scope": SCOPE,
                        "store": store, "keyring": keyring, "ca_file": self.ca}
        with open(self.conf, "w") as f:
            f.write(f"emr {self.module} " + " ".join(
                f'{k}="{v}"' for k, v in self.options.items()) + "\n")
        os.chmod(self.conf, 0o600)
        if authorize:
            self.authorize()
        return self

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.terminate()
            self.sim.wait()
            if self.sim.stdout:
                self.sim.stdout.close()
            self.sim = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "World":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- what a staff member and a test do ---------------------------------------
    def authorize(self) -> None:
        """vap-host authorize --no-listen; the simulated login approves."""
        p = subprocess.Popen([VAP_HOST, "-q", "-c", self.conf, "authorize", "--no-browser",
                              "--no-listen", "--wait", "30"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdin is not None
        url = p.stdout.readline().strip()
        opener = urllib.request.build_opener(_NoRedirect,
                                             urllib.request.HTTPSHandler(context=self.ssl))
        try:
            opener.open(url, timeout=20)
            raise RuntimeError("the simulated login did not redirect")
        except urllib.error.HTTPError as e:
            callback = e.headers["Location"]
        out, err = p.communicate(callback + "\n", timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"vap-host authorize failed: {err.strip()}")

    def control(self, action: str, body: Optional[dict] = None) -> Any:
        """POST to the simulator's /_sim/ control endpoint."""
        req = urllib.request.Request(f"{self.base}/_sim/{action}",
                                     data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ssl, timeout=20) as r:
            return json.loads(r.read() or b"{}")

    def counters(self) -> Any:
        with urllib.request.urlopen(f"{self.base}/_sim/counters", context=self.ssl,
                                    timeout=20) as r:
            return json.loads(r.read())
