"""The shared client every test, probe and load test uses to drive (and measure) a streaming avatar service.

Names are imported on first use, so loading the pytest plugin (every pytest run in an environment with the
testkit) does not pull in aiortc and PyAV.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from harness import errors

if TYPE_CHECKING:
    from harness.client import StreamingClient
    from harness.media import MediaStats
    from harness.metrics import MemorySink, RunWriter, Sample, SampleSink, Tee
    from harness.session import Session, SpeechResult

_HOMES = {
    "StreamingClient": "harness.client",
    "MediaStats": "harness.media",
    "MemorySink": "harness.metrics",
    "RunWriter": "harness.metrics",
    "Sample": "harness.metrics",
    "SampleSink": "harness.metrics",
    "Tee": "harness.metrics",
    "Session": "harness.session",
    "SpeechResult": "harness.session",
}

__all__ = [
    "MediaStats",
    "MemorySink",
    "RunWriter",
    "Sample",
    "SampleSink",
    "Session",
    "SpeechResult",
    "StreamingClient",
    "Tee",
    "errors",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
