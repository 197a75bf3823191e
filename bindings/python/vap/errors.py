"""The exceptions vap raises: one class per error class of vap/plugin.h.

Every one carries the plugin's one-line ``message`` (what went wrong and what
to do; never a token, secret or patient data), ``code`` (the stable
``vap_status`` number), ``http_status`` (the last HTTP status seen, 0 if
none), ``oauth_error`` (the server's OAuth ``error`` code, "" if none) and
``retry_after_s``.  Catch :class:`VapError` for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from . import _abi

if TYPE_CHECKING:
    from ._instance import Response

__all__ = [
    "VapError", "InvalidArgument", "ConfigError", "AbiError", "Unsupported", "OutOfMemory",
    "LocalIOError", "SealError", "Unavailable", "Timeout", "TLSError", "Cancelled",
    "ReauthRequired", "ClientRejected", "Denied", "ProtocolError", "HTTPError",
]


class VapError(Exception):
    """A failed vap call.  ``str(e)`` is the plugin's message."""

    code: int = 0

    def __init__(self, message: str, *, code: Optional[int] = None, http_status: int = 0,
                 oauth_error: str = "", retry_after_s: int = 0,
                 response: "Optional[Response]" = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.http_status = http_status
        self.oauth_error = oauth_error
        self.retry_after_s = retry_after_s
        #: The server's answer where it sent a body (fetch only); already
        #: released by the plugin, so nothing to close.
        self.response = response

    def __repr__(self) -> str:
        extra = ""
        if self.http_status:
            extra += f", http_status={self.http_status}"
        if self.oauth_error:
            extra += f", oauth_error={self.oauth_error!r}"
        return f"{type(self).__name__}({self.message!r}{extra})"


class InvalidArgument(VapError):
    """A bad argument from this program, or misuse (VAP_E_INVAL)."""
    code = _abi.E_INVAL


class ConfigError(VapError):
    """The config, the module or an option is wrong: the message names the
    file, line or key and the fix (VAP_E_CONFIG; also every failure to read
    the config or load the module)."""
    code = _abi.E_CONFIG


class AbiError(ConfigError):
    """The module is not a vap plugin for this ABI (VAP_E_ABI)."""
    code = _abi.E_ABI


class Unsupported(VapError):
    """This plugin or server cannot do that (VAP_E_UNSUPPORTED)."""
    code = _abi.E_UNSUPPORTED


class OutOfMemory(VapError):
    code = _abi.E_NOMEM


class LocalIOError(VapError):
    """A local file or system error (VAP_E_IO)."""
    code = _abi.E_IO


class SealError(VapError):
    """A sealed file or the keyring cannot be used (VAP_E_SEAL)."""
    code = _abi.E_SEAL


class Unavailable(VapError):
    """The server is down, overloaded or unreachable, after retries: try
    again later (VAP_E_UNAVAILABLE)."""
    code = _abi.E_UNAVAILABLE


class Timeout(Unavailable):
    """The call's deadline passed (VAP_E_TIMEOUT).  A kind of Unavailable:
    both mean "retry later"."""
    code = _abi.E_TIMEOUT


class TLSError(VapError):
    """The server's certificate, host name or pin was refused (VAP_E_TLS)."""
    code = _abi.E_TLS


class Cancelled(VapError):
    """The call's cancel token fired (VAP_E_CANCELLED).  asyncio callers see
    asyncio.CancelledError instead."""
    code = _abi.E_CANCELLED


class ReauthRequired(VapError):
    """The grant is dead (or there is none): a staff member must authorize
    again with ``vap-host authorize`` (VAP_E_REAUTH_REQUIRED)."""
    code = _abi.E_REAUTH_REQUIRED


class ClientRejected(VapError):
    """The server rejected this client (bad secret, disabled): the practice
    admin must fix it in OpenEMR (VAP_E_CLIENT)."""
    code = _abi.E_CLIENT


class Denied(VapError):
    """Refused: a missing scope, access control or role (VAP_E_DENIED)."""
    code = _abi.E_DENIED


class ProtocolError(VapError):
    """The server broke the protocol (VAP_E_PROTOCOL)."""
    code = _abi.E_PROTOCOL


class HTTPError(VapError):
    """Any other non-2xx answer; ``response`` holds its body (VAP_E_HTTP)."""
    code = _abi.E_HTTP


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, ConfigError, AbiError, Unsupported, OutOfMemory, LocalIOError,
    SealError, Unavailable, Timeout, TLSError, Cancelled, ReauthRequired, ClientRejected,
    Denied, ProtocolError, HTTPError)}


def from_code(code: int, message: str, **kw) -> VapError:
    """The exception for a vap_status code."""
    return _BY_CODE.get(code, VapError)(message, code=code, **kw)
