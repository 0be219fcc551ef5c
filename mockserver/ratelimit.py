"""An optional per-caller request rate limit (code 400140, HTTP 429), as third-party clients have seen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per caller: ``rate`` requests per second, bursts up to one second's worth (at least 1)."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, caller: str, rate: float, now: float) -> bool:
        capacity = max(rate, 1.0)
        bucket = self._buckets.setdefault(caller, _Bucket(tokens=capacity, updated=now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True
