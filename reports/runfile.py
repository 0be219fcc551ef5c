"""Load a JSONL run file (docs/run-format.md) into typed, validated records.

Readers are forgiving: a line that is not JSON, not an object, or a sample missing required fields is
skipped and recorded as a `LineIssue`; lines of an unknown `kind` are counted and ignored. Only an
unreadable file raises (`RunFileError`).
"""

from __future__ import annotations

import functools
import gc
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports.redact import redact, redact_text

#: Units the format allows; others are kept but reported as an issue once per metric.
KNOWN_UNITS: frozenset[str] = frozenset({"ms", "s", "kbps", "fps", "count", "percent"})

#: How many individual line problems are kept (the total is always counted).
MAX_ISSUES = 50


class ReportError(Exception):
    """Base class of the errors the reports package raises on purpose."""


class RunFileError(ReportError):
    """The run file cannot be read at all (missing, a directory, permission denied)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement (`kind: "sample"`)."""

    metric: str
    value: float | None
    unit: str
    ts: float
    ok: bool = True
    error: str | None = None
    session: str | None = None
    tier: str | None = None
    codec: str | None = None
    target: float | None = None
    scenario: str | None = None
    network_profile: str | None = None


@dataclass(slots=True)
class RunInfo:
    """The run's context (`kind: "run"` lines, merged; secrets already scrubbed)."""

    run_id: str | None = None
    started_at: float | None = None
    target: str | None = None
    host: str | None = None
    scenario: str | None = None
    users: int | None = None
    duration_s: float | None = None
    versions: dict[str, Any] = field(default_factory=dict)
    mock: dict[str, Any] = field(default_factory=dict)
    cores: int | None = None
    network_profile: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Number of `run` lines merged (several when locust workers append to one file).
    processes: int = 0


@dataclass(frozen=True, slots=True)
class RunEnd:
    """The closing line (`kind: "run_end"`)."""

    ended_at: float | None
    exit_code: int | None


@dataclass(frozen=True, slots=True)
class LineIssue:
    """A line that was skipped or only partly understood."""

    line_no: int
    reason: str


@dataclass
class Run:
    """Everything read from one run file."""

    path: Path
    info: RunInfo
    samples: list[Sample]
    end: RunEnd | None = None
    issues: list[LineIssue] = field(default_factory=list)
    #: Total count of problem lines (``issues`` keeps only the first MAX_ISSUES).
    issue_count: int = 0
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    total_lines: int = 0

    @property
    def has_run_line(self) -> bool:
        """True when at least one `kind: "run"` line was read."""
        return self.info.processes > 0

    @property
    def t0(self) -> float | None:
        """Time origin for charts: run start, else the first sample."""
        if self.info.started_at is not None:
            return self.info.started_at
        return min((s.ts for s in self.samples), default=None)

    @property
    def t_end(self) -> float | None:
        """End of the run: `run_end.ended_at`, else the last sample."""
        if self.end is not None and self.end.ended_at is not None:
            return self.end.ended_at
        return max((s.ts for s in self.samples), default=None)

    @functools.cached_property
    def network_profiles(self) -> list[str | None]:
        """Distinct network profiles of the samples, in first-seen order (computed once)."""
        return list(dict.fromkeys(s.network_profile for s in self.samples))

    def problems(self) -> list[str]:
        """Human-readable data-quality notes for the report and stderr."""
        notes: list[str] = []
        if self.total_lines == 0:
            notes.append("The run file is empty.")
        elif not self.has_run_line:
            notes.append("No `run` line: run context (target, scenario, versions) is unknown.")
        if self.total_lines and not self.samples:
            notes.append("The run file has no valid samples.")
        if self.issue_count:
            shown = "; ".join(f"line {i.line_no}: {i.reason}" for i in self.issues[:5])
            more = f" (+{self.issue_count - 5} more)" if self.issue_count > 5 else ""
            notes.append(f"Skipped {self.issue_count} malformed line(s): {shown}{more}.")
        if self.unknown_kinds:
            kinds = ", ".join(f"{k!r} x{n}" for k, n in self.unknown_kinds.most_common())
            notes.append(f"Ignored lines of unknown kind: {kinds}.")
        return notes


def _num(value: Any) -> float | None:
    """A finite float, or None for null / non-numbers (bools are not numbers here)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def _opt_str(value: Any) -> str | None:
    if type(value) is str:
        return value or None
    if value is None:
        return None
    return str(value)


class _Loader:
    """Accumulates lines; one instance per file."""

    def __init__(self, path: Path) -> None:
        self.run = Run(path=path, info=RunInfo(), samples=[])
        self._errors: dict[str, str] = {}

    def issue(self, line_no: int, reason: str) -> None:
        self.run.issue_count += 1
        if len(self.run.issues) < MAX_ISSUES:
            self.run.issues.append(LineIssue(line_no, reason))

    def feed(self, line_no: int, line: str) -> None:
        text = line.strip()
        if not text:
            return
        self.run.total_lines += 1
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            self.issue(line_no, "not valid JSON")
            return
        if not isinstance(obj, dict):
            self.issue(line_no, "not a JSON object")
            return
        kind = obj.get("kind")
        if kind == "sample":
            self._sample(line_no, obj)
        elif kind == "run":
            self._run_line(obj)
        elif kind == "run_end":
            self.run.end = RunEnd(_num(obj.get("ended_at")), _int(obj.get("exit_code")))
        else:
            self.run.unknown_kinds[str(kind)] += 1

    def _error(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        raw = str(value)
        cached = self._errors.get(raw)
        if cached is None:
            cached = self._errors[raw] = redact_text(raw)[:80]
        return cached

    def _sample(self, line_no: int, obj: dict[str, Any]) -> None:
        metric = obj.get("metric")
        if type(metric) is not str or not metric or metric[0].isspace() or metric[-1].isspace():
            metric = metric.strip() if isinstance(metric, str) else ""
            if not metric:
                self.issue(line_no, "sample without a metric name")
                return
        ts = _num(obj.get("ts"))
        if ts is None:
            self.issue(line_no, f"{metric}: sample without a numeric ts")
            return
        raw_ok = obj.get("ok")
        raw_error = obj.get("error")
        error = None if raw_error is None else self._error(raw_error)
        ok = raw_ok if type(raw_ok) is bool else error is None
        value = _num(obj.get("value"))
        if ok and value is None:
            self.issue(line_no, f"{metric}: ok sample without a numeric value")
            return
        if not ok and error is None:
            error = "unknown"
        unit = obj.get("unit")
        get = obj.get
        self.run.samples.append(
            Sample(
                metric,
                value,
                unit if type(unit) is str else str(unit or ""),
                ts,
                ok,
                error,
                _opt_str(get("session")),
                _opt_str(get("tier")),
                _opt_str(get("codec")),
                _num(get("target")),
                _opt_str(get("scenario")),
                _opt_str(get("network_profile")),
            )
        )

    def _run_line(self, raw: dict[str, Any]) -> None:
        obj = redact(raw)
        info = self.run.info
        info.processes += 1
        first = info.processes == 1
        simple: dict[str, Any] = {
            "run_id": _opt_str(obj.get("run_id")),
            "started_at": _num(obj.get("started_at")),
            "target": _opt_str(obj.get("target")),
            "host": _opt_str(obj.get("host")),
            "scenario": _opt_str(obj.get("scenario")),
            "users": _int(obj.get("users")),
            "duration_s": _num(obj.get("duration_s")),
            "cores": _int(obj.get("cores")),
            "network_profile": _opt_str(obj.get("network_profile")),
        }
        for name, value in simple.items():
            if value is not None and (first or getattr(info, name) is None):
                setattr(info, name, value)
        if simple["started_at"] is not None and info.started_at is not None:
            info.started_at = min(info.started_at, simple["started_at"])  # earliest process start
        for name in ("versions", "mock"):
            value = obj.get(name)
            if isinstance(value, dict):
                merged = dict(value)
                merged.update(getattr(info, name))  # first line wins
                setattr(info, name, merged)
        notes = obj.get("notes")
        if isinstance(notes, str) and notes and notes not in info.notes:
            info.notes = f"{info.notes}\n{notes}".strip()
        known = set(simple) | {"kind", "versions", "mock", "notes"}
        for k, v in obj.items():
            if k not in known and k not in info.extra:
                info.extra[k] = v


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None else None


def load_run(path: Path | str) -> Run:
    """Read and validate a run file. Raises RunFileError only when the file cannot be read."""
    p = Path(path)
    loader = _Loader(p)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # hundreds of thousands of small acyclic objects: the cyclic GC would rescan them all
    try:
        with p.open("r", encoding="utf-8", errors="replace") as fh:
            for line_no, line in enumerate(fh, start=1):
                loader.feed(line_no, line)
    except FileNotFoundError as exc:
        raise RunFileError(f"{p}: no such file") from exc
    except IsADirectoryError as exc:
        raise RunFileError(f"{p}: is a directory, expected a run file (samples.jsonl)") from exc
    except OSError as exc:
        raise RunFileError(f"{p}: cannot read ({exc.strerror or exc})") from exc
    finally:
        if gc_was_enabled:
            gc.enable()
    return loader.run
