"""The Python binding beside python3-requests, against the bench nginx.

Usage: bindings_bench.py BASE CA MODULE WORKDIR N
Prints one row per client and concurrency: req/s, p50 (us), CPU per request
(us, this process: the plugin and libcurl run inside it), ratio to requests.
"""

import statistics
import sys
import threading
import time

import requests

import vap

TOKEN = "bench-access-token-0123456789abcdef"
base, ca, module, work, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
fhir = f"{base}/apis/default/fhir"

emr = vap.load(module, issuer=f"{base}/oauth2/default", fhir_base=fhir, client_id="bench-client",
               ca_file=ca, store=f"{work}/store", keyring=f"{work}/keyring",
               scope="openid offline_access api:fhir user/Patient.read", connections=64)


def one_vap():
    with emr.fetch("Patient/1") as r:
        if r.status != 200 or len(r.body) != 4096:
            raise RuntimeError("bad answer")


local = threading.local()


def one_requests():
    s = getattr(local, "s", None)
    if s is None:
        s = local.s = requests.Session()
        s.verify = ca
        s.headers["Authorization"] = f"Bearer {TOKEN}"
    r = s.get(f"{fhir}/Patient/1", verify=ca)  # per request: $REQUESTS_CA_BUNDLE beats Session.verify
    if r.status_code != 200 or len(r.content) != 4096:
        raise RuntimeError("bad answer")


def run(fn, threads, total):
    per = total // threads
    lat = [[] for _ in range(threads)]
    go = threading.Barrier(threads + 1)
    failed = []

    def work(i):
        try:
            fn()                 # one warm connection per thread
        except Exception as e:   # noqa: BLE001
            failed.append(e)
        go.wait()
        if failed:
            return
        out = lat[i]
        for _ in range(per):
            t = time.perf_counter_ns()
            fn()
            out.append(time.perf_counter_ns() - t)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    go.wait()
    c0, w0 = time.process_time(), time.perf_counter()
    for t in ts:
        t.join()
    c1, w1 = time.process_time(), time.perf_counter()
    if failed:
        raise SystemExit(f"{fn.__name__}: {failed[0]!r}")
    done = per * threads
    allv = [x for xs in lat for x in xs]
    return done / (w1 - w0), statistics.median(allv) / 1000, (c1 - c0) / done * 1e6


print(f"{'Python: warm GET of a 4 KB Patient':40} {'req/s':>9} {'p50 us':>9} {'CPU us/req':>11} {'ratio':>7}")
for threads in (1, 16):
    total = n if threads == 1 else n
    # twice each, interleaved, best of two
    a = run(one_requests, threads, total // 4 if threads == 1 else total // 4)
    b = run(one_vap, threads, total)
    a2 = run(one_requests, threads, total // 4)
    b2 = run(one_vap, threads, total)
    a = max(a, a2)
    b = max(b, b2)
    print(f"{f'python3-requests, {threads:2d} thread(s)':40} {a[0]:9.0f} {a[1]:9.1f} {a[2]:11.1f} {1:7.2f}")
    print(f"{f'vap binding, {threads:2d} thread(s)':40} {b[0]:9.0f} {b[1]:9.1f} {b[2]:11.1f} {b[0] / a[0]:7.2f}")
emr.close()
