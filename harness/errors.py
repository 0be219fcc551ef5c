"""Typed errors for every failure a streaming client can meet, so callers catch causes, not status codes.

Each carries the contract ``code`` (None when the failure has no code, e.g. a network error), the HTTP
``status`` and the server's ``message``. Nothing here ever holds an API key or token: the client scrubs
known secrets out of messages before raising, and ``repr`` shows only code, status and message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from avatar_contract.codes import STATE_CODES, ErrorCode

_STATE_BY_CODE: dict[int, str] = {code.value: state for state, code in STATE_CODES.items()}

#: Credential-looking text a server might echo: bearer values, prefixed keys, long random blobs.
_SECRET_LIKE = re.compile(
    r"(?i:bearer\s+\S+)"
    r"|(?i:\b(?:sk|pk|api|key|tok)[_-][A-Za-z0-9_-]{12,})"
    r"|(?:\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[a-z])(?=[A-Za-z0-9_-]*[A-Z])[A-Za-z0-9_-]{32,})"
)
MAX_MESSAGE = 500


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the given secrets or anything that looks like a credential, at most 500 characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SECRET_LIKE.sub("***", text)[:MAX_MESSAGE]


class StreamingError(Exception):
    """Base of every harness error; ``code`` is the contract code when the service sent one."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None, op: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.op = op

    def __str__(self) -> str:
        where = f"{self.op}: " if self.op else ""
        parts = [f"code {self.code}"] if self.code is not None else []
        parts += [f"HTTP {self.status}"] if self.status is not None else []
        return f"{where}{self.message}" + (f" ({', '.join(parts)})" if parts else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"

    @property
    def label(self) -> str:
        """What a run file's ``error`` field holds: the contract code as text, else the class name."""
        return str(self.code) if self.code is not None else type(self).__name__


class Unauthorized(StreamingError):
    """400112: missing/invalid key or token, or a single-use token used twice."""


class MissingParameter(StreamingError):
    """40001: a required field is absent."""


class InvalidParameter(StreamingError):
    """400175: wrong type, unknown enum value, out-of-range number, text too long."""


class SessionStateError(StreamingError):
    """10001-10005: the operation is not allowed in the session's state (``.state``)."""

    @property
    def state(self) -> str | None:
        return _STATE_BY_CODE.get(self.code) if self.code is not None else None


class SessionNotFound(StreamingError):
    """10006: unknown session id, or a session of another key."""


class ConcurrentLimitReached(StreamingError):
    """10007: the key already holds its limit of live sessions."""


class AvatarNotFound(StreamingError):
    """10012: unknown avatar_id/avatar_name."""


class AvatarNotAllowed(StreamingError):
    """10013: the avatar exists but may not stream."""


class RateLimited(StreamingError):
    """400140: the caller exceeded the configured request rate."""


class ServerError(StreamingError):
    """HTTP 5xx, an unknown code, or a response that does not follow the contract."""


class TransportError(StreamingError):
    """The request never got a response (connection refused, reset, DNS, TLS)."""


class RequestTimeout(TransportError):
    """The request got no response within the client's timeout."""


class MediaError(StreamingError):
    """WebRTC negotiation failed (no SDP offer, bad answer, peer connection failed)."""


class MediaTimeout(MediaError, TimeoutError):
    """A media milestone (ICE connected, first frame, speech onset) did not arrive in time."""


_BY_CODE: dict[int, type[StreamingError]] = {
    ErrorCode.UNAUTHORIZED: Unauthorized,
    ErrorCode.MISSING_PARAMETER: MissingParameter,
    ErrorCode.INVALID_PARAMETER: InvalidParameter,
    ErrorCode.SESSION_NOT_FOUND: SessionNotFound,
    ErrorCode.CONCURRENT_LIMIT: ConcurrentLimitReached,
    ErrorCode.AVATAR_NOT_FOUND: AvatarNotFound,
    ErrorCode.AVATAR_NOT_ALLOWED: AvatarNotAllowed,
    ErrorCode.RATE_LIMITED: RateLimited,
    **{code: SessionStateError for code in STATE_CODES.values()},
}


def error_for(code: int | None, status: int | None, message: str, op: str | None = None) -> StreamingError:
    """The typed error for a contract code; HTTP status decides when the code is unknown or absent."""
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        cls = {401: Unauthorized, 429: RateLimited}.get(status or 0, ServerError)
    return cls(message, code=code, status=status, op=op)


def error_label(exc: BaseException) -> str:
    """The run file's ``error`` text for any exception: a contract code or a short class name."""
    if isinstance(exc, StreamingError):
        return exc.label
    if isinstance(exc, TimeoutError):
        return "Timeout"
    return type(exc).__name__
