"""The shared client every test, probe and load test uses to drive (and measure) a streaming avatar service."""

from harness import errors
from harness.client import StreamingClient
from harness.media import MediaStats
from harness.metrics import MemorySink, RunWriter, Sample, SampleSink, Tee
from harness.session import Session, SpeechResult

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
