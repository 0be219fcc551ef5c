"""The one exception type handlers raise; the app turns it into the contract's error envelope."""

from __future__ import annotations

from avatar_contract.codes import STATE_CODES, ErrorCode


class ApiError(Exception):
    """A contract-shaped failure: ``code`` picks the HTTP status, ``message`` is safe to show the caller."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def state_error(state: str, op: str) -> ApiError:
    return ApiError(STATE_CODES[state], f"session is {state}: {op} not allowed")


def not_found() -> ApiError:
    return ApiError(ErrorCode.SESSION_NOT_FOUND, "session not found")
