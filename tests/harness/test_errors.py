"""Typed errors: one class per contract code, a run-file label, and no secret in any text they carry."""

from __future__ import annotations

import pytest

from avatar_contract.codes import ErrorCode
from harness import errors
from harness.errors import error_for, error_label

EXPECTED = {
    ErrorCode.UNAUTHORIZED: errors.Unauthorized,
    ErrorCode.MISSING_PARAMETER: errors.MissingParameter,
    ErrorCode.INVALID_PARAMETER: errors.InvalidParameter,
    ErrorCode.STATE_NEW: errors.SessionStateError,
    ErrorCode.STATE_CONNECTING: errors.SessionStateError,
    ErrorCode.STATE_CONNECTED: errors.SessionStateError,
    ErrorCode.STATE_CLOSING: errors.SessionStateError,
    ErrorCode.STATE_CLOSED: errors.SessionStateError,
    ErrorCode.SESSION_NOT_FOUND: errors.SessionNotFound,
    ErrorCode.CONCURRENT_LIMIT: errors.ConcurrentLimitReached,
    ErrorCode.AVATAR_NOT_FOUND: errors.AvatarNotFound,
    ErrorCode.AVATAR_NOT_ALLOWED: errors.AvatarNotAllowed,
    ErrorCode.RATE_LIMITED: errors.RateLimited,
    ErrorCode.INTERNAL: errors.ServerError,
    ErrorCode.NOT_FOUND: errors.ServerError,
}


@pytest.mark.parametrize(("code", "cls"), list(EXPECTED.items()), ids=lambda v: str(getattr(v, "name", v)))
def test_every_contract_code_has_its_class(code: ErrorCode, cls: type[errors.StreamingError]) -> None:
    err = error_for(code.value, code.http_status, "message", "streaming.new")
    assert type(err) is cls
    assert isinstance(err, errors.StreamingError)
    assert (err.code, err.status, err.message, err.op) == (code.value, code.http_status, "message", "streaming.new")
    assert err.label == str(code.value)


@pytest.mark.parametrize(
    ("code", "state"),
    [(10001, "new"), (10002, "connecting"), (10003, "connected"), (10004, "closing"), (10005, "closed")],
)
def test_state_errors_name_the_state(code: int, state: str) -> None:
    err = error_for(code, 400, "session is x")
    assert isinstance(err, errors.SessionStateError)
    assert err.state == state


def test_status_decides_without_a_code() -> None:
    assert type(error_for(None, 401, "no")) is errors.Unauthorized
    assert type(error_for(None, 429, "slow down")) is errors.RateLimited
    assert type(error_for(None, 502, "bad gateway")) is errors.ServerError
    assert type(error_for(None, 418, "teapot")) is errors.ServerError
    assert type(error_for(987654, 400, "unknown code")) is errors.ServerError


def test_text_shows_op_code_and_status() -> None:
    err = error_for(10007, 400, "concurrent limit reached (3 sessions)", "streaming.new")
    assert str(err) == "streaming.new: concurrent limit reached (3 sessions) (code 10007, HTTP 400)"
    assert (
        repr(err) == "ConcurrentLimitReached(code=10007, status=400, message='concurrent limit reached (3 sessions)')"
    )
    assert str(errors.TransportError("connection refused")) == "connection refused"


def test_labels_for_the_run_file() -> None:
    assert error_label(error_for(10007, 400, "x")) == "10007"
    assert error_label(errors.RequestTimeout("late")) == "RequestTimeout"
    assert error_label(errors.MediaTimeout("no frame")) == "MediaTimeout"
    assert error_label(TimeoutError()) == "Timeout"
    assert error_label(ValueError("x")) == "ValueError"


def test_media_timeout_is_a_timeout() -> None:
    with pytest.raises(TimeoutError):
        raise errors.MediaTimeout("no first frame within 1s")
    assert issubclass(errors.MediaTimeout, errors.MediaError)
    assert issubclass(errors.RequestTimeout, errors.TransportError)
