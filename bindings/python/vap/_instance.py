"""Instance, Response, Grant and CancelToken: the plugin's calls in Python."""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import json as _json
import re
import threading
import urllib.parse
import weakref
from concurrent.futures import ThreadPoolExecutor
from ctypes import POINTER, byref, c_void_p
from typing import Any, Callable, Mapping, Optional, TypeVar, Union

from . import _abi
from .errors import InvalidArgument, OutOfMemory, VapError, from_code

T = TypeVar("T")
Query = Union[str, Mapping[str, Any], None]
Body = Union[bytes, bytearray, str, dict, list, None]

_GRANT_STATES = {0: "none", 1: "valid", 2: "expired", 3: "reauth_required"}
_BIRTHDATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a grant looks like from outside: never a token value."""

    state: str                 # "none", "valid", "expired", "reauth_required"
    scope: str
    patient: str
    encounter: str
    subject: str
    fhir_user: str
    access_expires_at_ms: int
    obtained_at_ms: int
    generation: int
    has_refresh_token: bool


def _text(p: Optional[bytes]) -> str:
    return p.decode("utf-8", "replace") if p else ""


def _raise(api, rc: int, err: _abi.Error, response: "Optional[Response]" = None):
    msg = _text(err.message)
    if not msg and api.strerror:
        msg = _text(api.strerror(rc))
    raise from_code(rc, msg or "failed", http_status=err.http_status,
                    oauth_error=_text(err.oauth_error), retry_after_s=err.retry_after_s,
                    response=response)


class CancelToken:
    """A cancel token (vap_cancel): ``cancel()`` from any thread ends the
    calls it was passed to promptly with :class:`vap.Cancelled`.  Freed by
    ``close()`` (or the with block, or garbage collection) once no call uses
    it."""

    def __init__(self, instance: "Instance") -> None:
        api = instance._api
        self._lock = threading.Lock()
        self._ptr = api.cancel_new()
        if not self._ptr:
            raise OutOfMemory("out of memory creating a cancel token")
        self._api = api
        self._finalizer = weakref.finalize(self, api.cancel_free, self._ptr)

    def cancel(self) -> None:
        with self._lock:
            if self._ptr:
                self._api.cancel_fire(self._ptr)

    def close(self) -> None:
        with self._lock:
            self._ptr = None
            self._finalizer()

    def __enter__(self) -> "CancelToken":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Response:
    """A fetch's answer.  The body stays in the plugin's memory until
    ``close()`` (or the end of a with block), which has the plugin free and
    wipe it; garbage collection does the same as a backstop."""

    def __init__(self, api, ptr: Any, detached: bool = False) -> None:
        r = ptr.contents
        self.status: int = r.status
        self.content_type: str = _text(r.content_type)
        self.pages: int = r.pages
        headers: dict[str, str] = {}
        for i in range(r.n_headers):
            name = _text(r.headers[i].name).lower()
            value = _text(r.headers[i].value)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers: dict[str, str] = headers
        self._body: Optional[bytes] = None
        self._lock = threading.Lock()
        self._ptr = ptr
        self._finalizer = weakref.finalize(self, api.release, ctypes.cast(ptr, c_void_p))
        if detached:  # an error's body: copied, and the plugin's copy wiped now
            self._body = self._read()
            self.close(keep_body=True)

    def _read(self) -> bytes:
        r = self._ptr.contents
        return ctypes.string_at(r.body, r.body_len) if r.body and r.body_len else b""

    @property
    def body(self) -> bytes:
        """The body bytes (patient data: this program owns what it does with them)."""
        with self._lock:
            if self._body is None:
                if self._ptr is None:
                    raise InvalidArgument("the response was closed; read its body inside "
                                          "the with block, or before close()")
                self._body = self._read()
            return self._body

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.loads(self.body)

    def close(self, keep_body: bool = False) -> None:
        with self._lock:
            self._ptr = None
            if not keep_body:
                self._body = None
        self._finalizer()

    def __enter__(self) -> "Response":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vap.Response status={self.status} pages={self.pages}>"


class Instance:
    """One configured connection to a practice's OpenEMR (vap_instance).

    Every method may be called from any thread at once.  ``close()`` (or the
    with block) waits for calls in flight, then frees the instance.
    """

    def __init__(self, api_ptr, inst: int, name: str, workers: int = 16) -> None:
        self._api = api_ptr.contents
        self._inst = c_void_p(inst)
        self.name: str = name
        self.plugin: str = _text(self._api.name)
        self.version: str = _text(self._api.version)
        self._workers = workers
        self._pool: Optional[ThreadPoolExecutor] = None
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, self._api.instance_free, self._inst)

    # ---- lifetime ------------------------------------------------------------
    def close(self) -> None:
        with self._cond:
            self._closed = True
            while self._busy:
                self._cond.wait()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._finalizer()

    def __enter__(self) -> "Instance":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vap.Instance {self.name!r} plugin={self.plugin} {self.version}>"

    def cancel_token(self) -> CancelToken:
        """A new CancelToken for this instance's calls."""
        return CancelToken(self)

    def _enter(self) -> None:
        with self._cond:
            if self._closed:
                raise InvalidArgument("this vap instance is closed; open a new one")
            self._busy += 1

    def _leave(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._busy == 0:
                self._cond.notify_all()

    def _call(self, timeout: Optional[float], cancel: Optional[CancelToken]):
        call = _abi.init(_abi.Call)
        if timeout is not None:
            if timeout <= 0:
                raise InvalidArgument("timeout must be a positive number of seconds")
            call.deadline_ms = _abi.now_ms() + max(1, int(timeout * 1000))
        if cancel is not None:
            call.cancel = cancel._ptr
        return call

    def _need(self, field: str, cap: int) -> Callable:
        fn = getattr(self._api, field) if _abi.has(self._api, field) else None
        if not fn or not (self._api.caps & cap):
            from .errors import Unsupported
            raise Unsupported(f"this plugin ({self.plugin} {self.version}) cannot {field}")
        return fn

    # ---- calls ---------------------------------------------------------------
    def fetch(self, path: str, query: Query = None, method: str = "GET", body: Body = None,
              all_pages: bool = False, timeout: Optional[float] = None, *,
              api: bool = False, content_type: Optional[str] = None, max_pages: int = 0,
              cancel: Optional[CancelToken] = None) -> Response:
        """An authenticated request: ``path`` relative to fhir_base (e.g.
        "Patient/123"), or to OpenEMR's standard API with ``api=True``.
        ``query`` is an encoded string or a mapping; ``body`` bytes, str, or a
        dict/list sent as JSON.  A non-2xx answer raises (Denied, HTTPError,
        ...) with the body, if any, on the exception's ``response``."""
        fn = self._need("fetch", _abi.CAP_FETCH)
        if isinstance(query, Mapping):
            query = urllib.parse.urlencode(query, doseq=True, quote_via=urllib.parse.quote)
        if isinstance(body, (dict, list)):
            body = _json.dumps(body, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode()
        if method.upper() not in ("GET", "POST", "PUT"):
            raise InvalidArgument(f"method must be GET, POST or PUT, not {method!r}")
        req = _abi.init(_abi.FetchRequest)
        req.method = method.upper().encode()
        req.path = path.encode()
        req.query = query.encode() if query else None
        buf = None
        if body is not None:
            buf = ctypes.create_string_buffer(bytes(body), len(body))
            req.body = ctypes.cast(buf, c_void_p)
            req.body_len = len(body)
            req.content_type = (content_type or "application/json").encode()
        req.flags = (_abi.FETCH_ALL_PAGES if all_pages else 0) | \
            (_abi.FETCH_STANDARD_API if api else 0)
        req.max_pages = max_pages
        out = POINTER(_abi.FetchResponse)()
        err = _abi.init(_abi.Error)
        self._enter()
        try:
            call = self._call(timeout, cancel)
            rc = fn(self._inst, byref(call), byref(req), byref(out), byref(err))
        finally:
            self._leave()
            if buf is not None:
                ctypes.memset(buf, 0, len(buf))
        if rc != _abi.OK:
            resp = Response(self._api, out, detached=True) if out else None
            _raise(self._api, rc, err, resp)
        return Response(self._api, out)

    def _grant_call(self, field: str, cap: int, timeout, cancel) -> Grant:
        fn = self._need(field, cap)
        out = POINTER(_abi.GrantInfo)()
        err = _abi.init(_abi.Error)
        self._enter()
        try:
            call = self._call(timeout, cancel)
            rc = fn(self._inst, byref(call), byref(out), byref(err))
        finally:
            self._leave()
        try:
            if rc != _abi.OK:
                _raise(self._api, rc, err)
            g = out.contents
            return Grant(_GRANT_STATES.get(g.state, str(g.state)), _text(g.scope),
                         _text(g.patient), _text(g.encounter), _text(g.subject),
                         _text(g.fhir_user), g.access_expires_at_ms, g.obtained_at_ms,
                         g.generation, bool(g.has_refresh_token))
        finally:
            self._api.release(ctypes.cast(out, c_void_p))

    def status(self, timeout: Optional[float] = None, *,
               cancel: Optional[CancelToken] = None) -> Grant:
        """The stored grant (state "none" when there is none)."""
        return self._grant_call("status", _abi.CAP_STATUS, timeout, cancel)

    def refresh(self, timeout: Optional[float] = None, *,
                cancel: Optional[CancelToken] = None) -> Grant:
        """Renew the access token now (single-flight across threads and processes)."""
        return self._grant_call("refresh", _abi.CAP_REFRESH, timeout, cancel)

    def reload(self, timeout: Optional[float] = None, *,
               cancel: Optional[CancelToken] = None) -> None:
        """Re-read the keyring and sealed files after an admin rotated them."""
        fn = self._need("reload", _abi.CAP_RELOAD)
        err = _abi.init(_abi.Error)
        self._enter()
        try:
            call = self._call(timeout, cancel)
            rc = fn(self._inst, byref(call), byref(err))
        finally:
            self._leave()
        if rc != _abi.OK:
            _raise(self._api, rc, err)

    def find_patient(self, name: Optional[str] = None, birthdate: Optional[str] = None,
                     phone: Optional[str] = None, timeout: Optional[float] = None, *,
                     cancel: Optional[CancelToken] = None) -> list[dict[str, str]]:
        """Find the caller: a Patient search by name (and birth date,
        YYYY-MM-DD, if known) or by phone.  Returns [{"id", "name",
        "birthDate", "phone"}, ...] ("birthDate"/"phone" only when known);
        [] when nobody matches."""
        if (name is None) == (phone is None):
            raise InvalidArgument("find_patient needs name= (with birthdate= if known) or "
                                  "phone=, not both")
        if birthdate is not None and not _BIRTHDATE.fullmatch(birthdate):
            raise InvalidArgument("find_patient: birthdate must be YYYY-MM-DD")
        q: dict[str, str] = {"name": name} if name is not None else {"phone": phone or ""}
        if name is not None and birthdate:
            q["birthdate"] = birthdate
        q["_count"] = "50"
        with self.fetch("Patient", q, timeout=timeout, cancel=cancel) as r:
            bundle = r.json()
        return [s for s in (_summary(e.get("resource") or {})
                            for e in bundle.get("entry") or []) if s]

    # ---- asyncio ---------------------------------------------------------------
    async def afetch(self, path: str, query: Query = None, method: str = "GET",
                     body: Body = None, all_pages: bool = False,
                     timeout: Optional[float] = None, **kw: Any) -> Response:
        """fetch() on this instance's thread pool.  Cancelling the task fires
        the call's cancel token: the plugin ends the call promptly and the
        task ends with asyncio.CancelledError."""
        return await self._async(self.fetch, path, query, method, body, all_pages, timeout,
                                 **kw)

    async def astatus(self, timeout: Optional[float] = None) -> Grant:
        return await self._async(self.status, timeout)

    async def arefresh(self, timeout: Optional[float] = None) -> Grant:
        return await self._async(self.refresh, timeout)

    async def areload(self, timeout: Optional[float] = None) -> None:
        return await self._async(self.reload, timeout)

    async def afind_patient(self, name: Optional[str] = None, birthdate: Optional[str] = None,
                            phone: Optional[str] = None,
                            timeout: Optional[float] = None) -> list[dict[str, str]]:
        return await self._async(self.find_patient, name, birthdate, phone, timeout)

    def _executor(self) -> ThreadPoolExecutor:
        with self._cond:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers,
                                                thread_name_prefix=f"vap-{self.name}")
            return self._pool

    async def _async(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        token = CancelToken(self)
        kw["cancel"] = token
        fut = loop.run_in_executor(self._executor(), lambda: fn(*args, **kw))
        fut.add_done_callback(lambda _f: token.close())
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            token.cancel()
            # The plugin ends the call promptly once fired: wait for the
            # thread so the task ends with nothing left running.
            await asyncio.wait({fut})
            if not fut.cancelled() and fut.exception() is None:
                res = fut.result()
                if isinstance(res, Response):
                    res.close()
            raise


def _summary(res: Mapping[str, Any]) -> Optional[dict[str, str]]:
    pid = res.get("id")
    if not isinstance(pid, str):
        return None
    nm = (res.get("name") or [{}])[0]
    parts = [g for g in nm.get("given") or [] if isinstance(g, str)]
    if isinstance(nm.get("family"), str):
        parts.append(nm["family"])
    out = {"id": pid, "name": " ".join(parts)}
    if isinstance(res.get("birthDate"), str):
        out["birthDate"] = res["birthDate"]
    for t in res.get("telecom") or []:
        if t.get("system") == "phone" and isinstance(t.get("value"), str):
            out["phone"] = t["value"]
            break
    return out

