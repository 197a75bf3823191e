"""vap: reach a practice's OpenEMR from Python through the vap_openemr plugin.

The plugin (C) keeps the OAuth grant alive (refresh with single-flight
across threads and processes, rotated refresh tokens sealed before use) and
does the FHIR requests; this package loads it exactly as ``vap-host`` does,
with libvaphost (the config lookup, the permission checks and the
fd-checked load), and drives it through the C ABI with ctypes.  No token
ever reaches Python.

Open an instance
    ``vap.open()`` reads the same config as ``vap-host``: the ``config``
    argument, else ``$VAP_CONFIG``, else ``/etc/vap/plugins.conf``, and the
    instance named ``instance`` (default: the only one in the file)::

        import vap
        emr = vap.open()                       # or vap.open("/etc/vap/plugins.conf", "emr")

    ``vap.load(module, **options)`` skips the config file: the module's
    absolute path and the options a config line would carry::

        emr = vap.load("/usr/lib/x86_64-linux-gnu/vap/vap_openemr.so",
                       issuer="https://emr.example.org/oauth2/default",
                       fhir_base="https://emr.example.org/apis/default/fhir",
                       client_id="...", store="/var/lib/vap/store",
                       keyring="/etc/vap/keyring")

    The grant itself is made once by a staff member: ``vap-host authorize``.
    Close the instance with ``emr.close()`` or a ``with`` block.

Fetch
    ``emr.fetch(path, query=None, method="GET", body=None, all_pages=False,
    timeout=None)`` returns a :class:`Response` with ``status``, ``headers``
    (a dict, lower-case names), ``body`` (bytes) and ``.json()``.  Use it in a
    ``with`` block: on leaving it the plugin frees and wipes the body::

        with emr.fetch("Patient", {"name": "Smith", "birthdate": "1970-01-01"}) as r:
            bundle = r.json()

    ``api=True`` addresses OpenEMR's standard API instead of FHIR.  Helpers:
    ``emr.find_patient(name=, birthdate=)`` or ``(phone=)``,
    ``emr.status()`` and ``emr.refresh()`` (a :class:`Grant`: state, scope,
    expiry; never a token), ``emr.reload()`` (after an admin rotated the
    keyring or sealed files).  ``timeout`` is seconds for the whole call,
    retries included (default: the instance's ``timeout_ms``).

Errors
    Each error class of the plugin is an exception (all :class:`VapError`),
    carrying ``message`` (one line, what happened and what to do),
    ``http_status`` and ``oauth_error``:

    * :class:`Unavailable` (and its kind :class:`Timeout`): try again later;
    * :class:`ReauthRequired`: a staff member must run ``vap-host authorize``;
    * :class:`ClientRejected`, :class:`ConfigError`: the practice admin must
      fix the client or the config;
    * :class:`Denied`: a missing scope, access control or role;
    * :class:`HTTPError`: any other non-2xx answer (``e.response`` has the
      body); also ``TLSError``, ``SealError``, ``ProtocolError``, ...

Threads and asyncio
    Every call may run from any thread at once.  ``afetch``, ``astatus``,
    ``arefresh``, ``areload`` and ``afind_patient`` run the call on the
    instance's thread pool; cancelling the task fires the call's cancel
    token, so the plugin abandons a slow server at once and the thread is
    free again (the grant is untouched).  Sync callers can do the same with
    ``tok = emr.cancel_token()``, ``emr.fetch(..., cancel=tok)`` and
    ``tok.cancel()`` from another thread (:class:`Cancelled`).

Finding libvaphost
    ``$VAP_HOST_LIB`` (a path to libvaphost.so.1), else the system's library
    path, where ``ninja -C build install`` puts it.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_void_p
from typing import Optional, Union

from . import _abi
from ._instance import CancelToken, Grant, Instance, Response
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import ConfigError, InvalidArgument, OutOfMemory, VapError, from_code
from . import errors as _errors

__all__ = ["open", "load", "config_path", "Instance", "Response", "Grant", "CancelToken",
           *_errors.__all__]
__version__ = "0.1.0"

_LEVELS = {"error": _abi.LOG_ERROR, "warning": _abi.LOG_WARN, "info": _abi.LOG_INFO,
           "debug": _abi.LOG_DEBUG}


def config_path(config: Optional[str] = None) -> str:
    """The config file vap.open(config) reads: config, else $VAP_CONFIG, else
    /etc/vap/plugins.conf."""
    lib = _abi.library()
    return lib.vaph_config_path(config.encode() if config else None).decode()


def _host(log_level: str):
    if log_level not in _LEVELS:
        raise InvalidArgument(f"log_level must be one of {', '.join(_LEVELS)}")
    return _abi.library().vaph_stderr_host(_LEVELS[log_level])


def _open_error(rc: int, herr: _abi.HostError) -> VapError:
    msg = herr.message.decode("utf-8", "replace")
    # The messages are vap-host's: name this API's arguments instead.
    msg = msg.replace("-c CONFIG or VAP_CONFIG", "config= or VAP_CONFIG")
    msg = msg.replace("check -i NAME", "check instance=").replace("with -i NAME (e.g. -i ",
                                                                   "with instance= (e.g. ")
    if herr.stage == _abi.STAGE_INSTANCE:
        p = herr.plugin
        return from_code(rc, msg, http_status=p.http_status,
                         oauth_error=p.oauth_error.decode("utf-8", "replace"))
    if rc == _abi.E_NOMEM:
        return OutOfMemory(msg)
    if rc == _abi.E_ABI:
        return _errors.AbiError(msg)
    return ConfigError(msg, code=rc)


def open(config: Optional[str] = None, instance: Optional[str] = None, *,
         log_level: str = "warning", workers: int = 16) -> Instance:
    """Open the instance ``instance`` (default: the only one) of the config
    ``config`` (default: $VAP_CONFIG, else /etc/vap/plugins.conf).  The
    plugin's log lines at ``log_level`` or worse go to standard error (the
    first instance of a module in this process decides).  ``workers``: the
    size of the thread pool the async calls use."""
    lib = _abi.library()
    api = POINTER(_abi.PluginApi)()
    inst = c_void_p()
    name = ctypes.create_string_buffer(80)
    herr = _abi.HostError()
    rc = lib.vaph_open(config.encode() if config else None,
                       instance.encode() if instance else None, _host(log_level),
                       byref(api), byref(inst), name, len(name), byref(herr))
    if rc != _abi.OK:
        raise _open_error(rc, herr)
    return Instance(api, inst.value, name.value.decode(), workers)


def load(module: str, *, log_level: str = "warning", workers: int = 16,
         **options: Union[str, int]) -> Instance:
    """Load the plugin at the absolute path ``module`` and create an
    instance with ``options`` (the key=value pairs of a config line)."""
    lib = _abi.library()
    keep = []
    opts = (_abi.Option * max(1, len(options)))()
    for i, (k, v) in enumerate(options.items()):
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise InvalidArgument(f"option {k}: give a string or an integer")
        kb, vb = k.encode(), str(v).encode()
        keep += [kb, vb]
        opts[i].key, opts[i].value = kb, vb
    api = POINTER(_abi.PluginApi)()
    inst = c_void_p()
    herr = _abi.HostError()
    rc = lib.vaph_load(module.encode(), opts, len(options), _host(log_level), byref(api),
                       byref(inst), byref(herr))
    if rc != _abi.OK:
        raise _open_error(rc, herr)
    return Instance(api, inst.value, "", workers)
