"""The service's numeric result codes and the HTTP status the mock pairs with each."""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    SUCCESS = 100
    UNAUTHORIZED = 400112
    MISSING_PARAMETER = 40001
    INVALID_PARAMETER = 400175
    STATE_NEW = 10001
    STATE_CONNECTING = 10002
    STATE_CONNECTED = 10003
    STATE_CLOSING = 10004
    STATE_CLOSED = 10005
    SESSION_NOT_FOUND = 10006
    CONCURRENT_LIMIT = 10007
    AVATAR_NOT_FOUND = 10012
    AVATAR_NOT_ALLOWED = 10013
    RATE_LIMITED = 400140
    # Mock-only: transport-level problems that have no code in the real service.
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    BODY_TOO_LARGE = 413
    FORBIDDEN = 403
    REQUEST_TIMEOUT = 408
    INTERNAL = 500

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self, 400)


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.SUCCESS: 200,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.INTERNAL: 500,
}

#: Session state -> the code returned when an operation is not allowed in that state.
STATE_CODES: dict[str, ErrorCode] = {
    "new": ErrorCode.STATE_NEW,
    "connecting": ErrorCode.STATE_CONNECTING,
    "connected": ErrorCode.STATE_CONNECTED,
    "closing": ErrorCode.STATE_CLOSING,
    "closed": ErrorCode.STATE_CLOSED,
}
