"""ctypes mirror of vap/plugin.h and vap/host.h (the C ABI, nothing more).

Structs are declared as their writer compiles them; the plugin's descriptor
is read only as far as its struct_size says (VAP_HAS in C).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_int, c_int64,
                    c_size_t, c_uint32, c_uint64, c_void_p)

ABI_MINOR = 1

# enum vap_status
OK = 0
E_INVAL, E_CONFIG, E_ABI, E_UNSUPPORTED, E_NOMEM, E_IO, E_SEAL = -1, -2, -3, -4, -5, -6, -7
E_UNAVAILABLE, E_TIMEOUT, E_TLS, E_CANCELLED = -8, -9, -10, -11
E_REAUTH_REQUIRED, E_CLIENT, E_DENIED, E_PROTOCOL, E_HTTP = -12, -13, -14, -15, -16

LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 0, 1, 2, 3

CAP_FETCH = 1 << 2
CAP_STATUS = 1 << 3
CAP_RELOAD = 1 << 4
CAP_CANCEL = 1 << 5
CAP_REFRESH = 1 << 1

FETCH_STANDARD_API = 1 << 0
FETCH_ALL_PAGES = 1 << 1

STAGE_CONFIG, STAGE_LOAD, STAGE_INSTANCE = 1, 2, 3


class Option(Structure):
    _fields_ = [("key", c_char_p), ("value", c_char_p)]


class Header(Structure):
    _fields_ = [("name", c_char_p), ("value", c_char_p)]


class Error(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32), ("code", c_int),
                ("http_status", c_int), ("retry_after_s", c_int),
                ("oauth_error", c_char * 64), ("message", c_char * 256)]


class Call(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32),
                ("deadline_ms", c_int64), ("cancel", c_void_p)]


class HostApi(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32), ("ctx", c_void_p),
                ("log", c_void_p), ("now_ms", c_void_p), ("metric", c_void_p)]


class GrantInfo(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32), ("state", c_int),
                ("scope", c_char_p), ("patient", c_char_p), ("encounter", c_char_p),
                ("subject", c_char_p), ("fhir_user", c_char_p),
                ("access_expires_at_ms", c_int64), ("obtained_at_ms", c_int64),
                ("generation", c_uint64), ("has_refresh_token", c_int)]


class FetchRequest(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32), ("method", c_char_p),
                ("path", c_char_p), ("query", c_char_p), ("body", c_void_p),
                ("body_len", c_size_t), ("content_type", c_char_p), ("flags", c_uint32),
                ("max_pages", c_uint32)]


class FetchResponse(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32), ("status", c_int),
                ("content_type", c_char_p), ("body", c_void_p), ("body_len", c_size_t),
                ("headers", POINTER(Header)), ("n_headers", c_size_t), ("pages", c_uint32)]


class HostError(Structure):
    _fields_ = [("code", c_int), ("stage", c_int), ("plugin", Error),
                ("message", c_char * 1024)]


INSTANCE_NEW = CFUNCTYPE(c_int, POINTER(Option), c_size_t, POINTER(c_void_p), POINTER(Error))
INSTANCE_FREE = CFUNCTYPE(None, c_void_p)
AUTHORIZE_BEGIN = CFUNCTYPE(c_int, c_void_p, POINTER(Call), c_void_p, POINTER(c_void_p),
                            POINTER(Error))
AUTHORIZE_COMPLETE = CFUNCTYPE(c_int, c_void_p, POINTER(Call), c_char_p, c_size_t,
                               POINTER(POINTER(GrantInfo)), POINTER(Error))
GRANT_CALL = CFUNCTYPE(c_int, c_void_p, POINTER(Call), POINTER(POINTER(GrantInfo)),
                       POINTER(Error))
FETCH = CFUNCTYPE(c_int, c_void_p, POINTER(Call), POINTER(FetchRequest),
                  POINTER(POINTER(FetchResponse)), POINTER(Error))
RELOAD = CFUNCTYPE(c_int, c_void_p, POINTER(Call), POINTER(Error))
RELEASE = CFUNCTYPE(None, c_void_p)
STRERROR = CFUNCTYPE(c_char_p, c_int)
CANCEL_NEW = CFUNCTYPE(c_void_p)
CANCEL_OP = CFUNCTYPE(None, c_void_p)


class PluginApi(Structure):
    _fields_ = [("struct_size", c_uint32), ("abi_minor", c_uint32), ("name", c_char_p),
                ("version", c_char_p), ("caps", c_uint64),
                ("instance_new", INSTANCE_NEW), ("instance_free", INSTANCE_FREE),
                ("authorize_begin", AUTHORIZE_BEGIN),
                ("authorize_complete", AUTHORIZE_COMPLETE),
                ("refresh", GRANT_CALL), ("fetch", FETCH), ("status", GRANT_CALL),
                ("reload", RELOAD), ("release", RELEASE), ("strerror", STRERROR),
                ("cancel_new", CANCEL_NEW), ("cancel_fire", CANCEL_OP),
                ("cancel_free", CANCEL_OP)]


def has(api: PluginApi, field: str) -> bool:
    """VAP_HAS: the plugin's descriptor reaches this far."""
    f = getattr(PluginApi, field)
    return f.offset + f.size <= api.struct_size


def init(struct):
    """VAP_INIT: a zeroed struct with its size/version header."""
    s = struct()
    s.struct_size = ctypes.sizeof(struct)
    s.abi_minor = ABI_MINOR
    return s


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_INSTALL_DIRS = ("/usr/local/lib/x86_64-linux-gnu", "/usr/local/lib",
                 "/usr/lib/x86_64-linux-gnu")
_lib = None
_lib_lock = threading.Lock()


def library() -> ctypes.CDLL:
    """libvaphost: $VAP_HOST_LIB when set, else libvaphost.so.1 from the
    system's library path (installed by `ninja install`)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            path = os.environ.get("VAP_HOST_LIB")
            # the library path, then where `ninja install` puts it before ldconfig ran
            tries = [path] if path else ["libvaphost.so.1"] + [
                f"{d}/libvaphost.so.1" for d in _INSTALL_DIRS]
            lib = None
            for t in tries:
                try:
                    lib = ctypes.CDLL(t)
                    break
                except OSError as e:
                    why = e
            if lib is None:
                from .errors import ConfigError
                raise ConfigError(
                    f"cannot load libvaphost ({tries[0]}): {why}; install vap-openemr "
                    "(ninja -C build install) or set VAP_HOST_LIB to libvaphost.so.1",
                    code=E_CONFIG) from None
            lib.vaph_config_path.restype = c_char_p
            lib.vaph_config_path.argtypes = [c_char_p]
            lib.vaph_stderr_host.restype = c_void_p
            lib.vaph_stderr_host.argtypes = [c_int]
            lib.vaph_open.restype = c_int
            lib.vaph_open.argtypes = [c_char_p, c_char_p, c_void_p,
                                      POINTER(POINTER(PluginApi)), POINTER(c_void_p),
                                      c_char_p, c_size_t, POINTER(HostError)]
            lib.vaph_load.restype = c_int
            lib.vaph_load.argtypes = [c_char_p, POINTER(Option), c_size_t, c_void_p,
                                      POINTER(POINTER(PluginApi)), POINTER(c_void_p),
                                      POINTER(HostError)]
            _lib = lib
        return _lib
