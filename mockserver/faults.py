"""Fault injection set through the admin API: added latency and error storms per endpoint.

Faults are runtime state, not settings: a test sets them, provokes its client, and ``reset`` clears them.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, field_validator

from avatar_contract.codes import ErrorCode
from mockserver.config import Delay
from mockserver.errors import ApiError

ANY_ENDPOINT = "*"


class EndpointFault(BaseModel):
    """What happens to calls of one endpoint (``*`` = every endpoint without its own entry)."""

    model_config = ConfigDict(extra="forbid")

    latency: Delay | None = None
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_code: int = ErrorCode.INTERNAL.value
    error_message: str = Field(default="injected fault", max_length=200)

    @field_validator("error_code")
    @classmethod
    def _known_code(cls, code: int) -> int:
        try:
            ErrorCode(code)
        except ValueError:
            raise ValueError(f"unknown error code {code}") from None
        return code


class FaultTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoints: dict[str, EndpointFault] = {}

    def for_endpoint(self, op: str) -> EndpointFault | None:
        return self.endpoints.get(op) or self.endpoints.get(ANY_ENDPOINT)

    def added_latency(self, op: str, rng: random.Random) -> float | None:
        fault = self.for_endpoint(op)
        return fault.latency.sample(rng) if fault and fault.latency else None

    def maybe_fail(self, op: str, rng: random.Random) -> None:
        fault = self.for_endpoint(op)
        if fault and fault.error_rate and rng.random() < fault.error_rate:
            raise ApiError(ErrorCode(fault.error_code), fault.error_message)
