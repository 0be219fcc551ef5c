"""Where measurements go: the ``SampleSink`` protocol, the JSONL run-file writer and an in-memory sink.

Every measurement is one sample line of the run file described in ``docs/run-format.md``; reports are built
from those raw lines, so nothing here aggregates before writing. ``MemorySink.summary`` aggregates (with HDR
histograms) only for humans and tests.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from hdrh.histogram import HdrHistogram

#: Label keys every sample line carries (null when unknown), in the order docs/run-format.md shows them.
SAMPLE_LABELS = ("session", "tier", "codec", "target")
RUN_LABELS = ("scenario", "network_profile")


@runtime_checkable
class SampleSink(Protocol):
    """Anything that accepts samples: a run file, memory, locust's event hooks."""

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement as a sink received it."""

    metric: str
    value: float | None
    unit: str
    ts: float
    ok: bool = True
    error: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The run file's ``kind: "sample"`` object."""
        line: dict[str, Any] = {
            "kind": "sample",
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "ts": self.ts,
        }
        for key in SAMPLE_LABELS:
            line[key] = self.labels.get(key)
        line["ok"] = self.ok
        line["error"] = self.error
        for key in RUN_LABELS:
            line[key] = self.labels.get(key)
        line.update({k: v for k, v in self.labels.items() if k not in line})
        return line


def make_sample(
    metric: str, value: float | None, unit: str, ok: bool, error: str | None, labels: dict[str, Any]
) -> Sample:
    """A sample stamped now (unless the labels carry their own ``ts``); a good sample without a finite value
    is recorded as a failure (``NoValue``), as the run format requires."""
    labels = dict(labels)
    ts = labels.pop("ts", None)
    value = _finite(value)
    if ok and value is None:
        ok, error = False, error or "NoValue"
    return Sample(metric, value, unit, float(ts) if ts is not None else time.time(), ok, error, labels)


def _finite(value: float | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return round(number, 3) if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Summary:
    """Per-metric aggregate of good samples (error samples are only counted)."""

    metric: str
    unit: str
    count: int
    errors: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class MemorySink:
    """Keeps samples in a list: for tests, and for the probe's table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: list[Sample] = []

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None:
        sample = make_sample(metric, value, unit, ok, error, labels)
        with self._lock:
            self.samples.append(sample)

    def of(self, metric: str) -> list[Sample]:
        """Samples of one metric, in arrival order."""
        with self._lock:
            return [s for s in self.samples if s.metric == metric]

    def values(self, metric: str) -> list[float]:
        """Good values of one metric."""
        return [s.value for s in self.of(metric) if s.ok and s.value is not None]

    def metrics(self) -> list[str]:
        with self._lock:
            return list(dict.fromkeys(s.metric for s in self.samples))

    def summary(self) -> list[Summary]:
        """Percentiles per metric from an HDR histogram (3 significant digits), in first-seen order."""
        return [summarize(metric, self.of(metric)) for metric in self.metrics()]


def summarize(metric: str, samples: Iterable[Sample]) -> Summary:
    samples = list(samples)
    good = [s.value for s in samples if s.ok and s.value is not None and math.isfinite(s.value)]
    unit = samples[0].unit if samples else ""
    errors = sum(1 for s in samples if not s.ok)
    if not good:
        return Summary(metric, unit, 0, errors, None, None, None, None)
    # HDR histograms hold non-negative integers: shift by the minimum (values such as speech.duration_error
    # can be negative) and keep three decimals by scaling by 1000.
    shift = min(min(good), 0.0)
    hist = HdrHistogram(1, max(round((max(good) - shift) * 1000) + 1, 2), 3)
    for value in good:
        hist.record_value(round((value - shift) * 1000))

    top = max(good)

    def pct(p: float) -> float:
        # HDR reports a bucket's upper edge: never above the largest value seen.
        return round(min(hist.get_value_at_percentile(p) / 1000 + shift, top), 3)

    return Summary(metric, unit, len(good), errors, pct(50), pct(90), pct(99), round(top, 3))


class Tee:
    """Sends every sample to several sinks (e.g. a run file and memory)."""

    def __init__(self, *sinks: SampleSink) -> None:
        self.sinks = sinks

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None:
        for sink in self.sinks:
            sink.record(metric, value, unit, ok, error, **labels)


class RunWriter:
    """Writes one JSONL run file: a ``run`` line now, ``sample`` lines as they come, ``run_end`` on close.

    Thread-safe; each line is written with one ``write`` to a file opened for append, then flushed, so a crash
    loses at most the line being written and several processes (locust workers) may append to the same file.
    """

    def __init__(self, path: str | Path, run_context: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self.context = run_line(run_context or {})
        self._write(self.context)

    def record(
        self, metric: str, value: float | None, unit: str, ok: bool = True, error: str | None = None, **labels: Any
    ) -> None:
        self._write(make_sample(metric, value, unit, ok, error, labels).to_json())

    def close(self, exit_code: int = 0) -> None:
        """Write ``run_end`` and close; later calls do nothing."""
        with self._lock:
            if self._file.closed:
                return
            self._file.write(_line({"kind": "run_end", "ended_at": time.time(), "exit_code": exit_code}))
            self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> RunWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.close(0 if exc_type is None else 1)

    def _write(self, obj: dict[str, Any]) -> None:
        data = _line(obj)
        with self._lock:
            if self._file.closed:
                raise ValueError(f"run file {self.path} is closed")
            self._file.write(data)


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, default=str, allow_nan=False) + "\n").encode()


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-xxxx``: sortable by start time, unique enough for one machine."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + secrets.token_hex(2)


def run_line(context: dict[str, Any]) -> dict[str, Any]:
    """The ``kind: "run"`` object: the caller's context over defaults for id, start time, versions, cores."""
    line: dict[str, Any] = {
        "kind": "run",
        "run_id": new_run_id(),
        "started_at": time.time(),
        "target": None,
        "host": None,
        "scenario": None,
        "users": None,
        "duration_s": None,
        "versions": versions(),
        "mock": None,
        "cores": os.cpu_count(),
        "network_profile": None,
        "notes": "",
    }
    line.update({k: v for k, v in context.items() if k != "kind"})
    return line


def versions() -> dict[str, str]:
    """Versions that change what a run measures."""
    found = {"python": platform.python_version()}
    for name, dist in (("testkit", "streaming-avatar-testkit"), ("aiortc", "aiortc"), ("locust", "locust")):
        try:
            found[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found
