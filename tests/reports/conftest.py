"""Fixtures for the reports tests: small synthetic run files of every awkward shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.reports.synth import T0, SynthSpec, run_line, sample, write_run, write_synthetic


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide directory for the (read-only) run files below."""
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def rich_run(runs_root: Path) -> Path:
    """Three network profiles, three tiers, errors and a concurrency staircase."""
    spec = SynthSpec(sessions=12, duration_s=40, network_profiles=[None, "4g", "regular 3G"], staircase=True,
                     concurrency_limit=11, error_share=0.03, speech_every_s=3.0)
    return write_synthetic(runs_root / "rich" / "samples.jsonl", spec)


@pytest.fixture(scope="session")
def base_run(runs_root: Path) -> Path:
    """A plain run to compare against."""
    return write_synthetic(runs_root / "base" / "samples.jsonl", SynthSpec(sessions=8, duration_s=30, seed=1))


@pytest.fixture(scope="session")
def slower_run(runs_root: Path) -> Path:
    """The base run with every speech onset 50% slower."""
    lines = []
    for raw in (runs_root / "base" / "samples.jsonl").read_text().splitlines():
        obj: dict[str, Any] = json.loads(raw)
        if obj.get("metric") == "speech.onset" and obj.get("value") is not None:
            obj["value"] = obj["value"] * 1.5
        lines.append(obj)
    return write_run(runs_root / "slower" / "samples.jsonl", lines)


@pytest.fixture
def empty_run(tmp_path: Path) -> Path:
    """A zero-byte run file."""
    path = tmp_path / "empty" / "samples.jsonl"
    path.parent.mkdir()
    path.write_text("")
    return path


@pytest.fixture
def single_run(tmp_path: Path) -> Path:
    """A run line and exactly one sample."""
    return write_run(tmp_path / "single" / "samples.jsonl",
                     [run_line(), sample("speech.onset", 812.5, "ms", T0 + 3)])


@pytest.fixture
def error_only_run(tmp_path: Path) -> Path:
    """Every attempt failed (the mock refused all sessions)."""
    lines: list[dict[str, Any]] = [run_line()]
    for i in range(20):
        lines.append(sample("session.create", None, "ms", T0 + i, ok=False, error="10007", session=f"s{i}"))
        lines.append(sample("rest.streaming.new", None, "ms", T0 + i, ok=False, error="10007", session=f"s{i}"))
    lines.append({"kind": "run_end", "ended_at": T0 + 21, "exit_code": 1})
    return write_run(tmp_path / "errors" / "samples.jsonl", lines)


@pytest.fixture
def garbage_run(tmp_path: Path) -> Path:
    """Valid lines mixed with every kind of junk."""
    lines: list[Any] = [
        json.dumps(run_line()),
        "this is not json",
        "[1, 2, 3]",
        '{"kind": "sample", "value": 3}',
        '{"kind": "sample", "metric": "speech.onset", "value": "fast", "unit": "ms", "ts": 1796026501}',
        '{"kind": "sample", "metric": "speech.onset", "value": 1, "unit": "ms"}',
        '{"kind": "heartbeat"}',
        '{"kind": "sample", "metric": "speech.onset", "value": NaN, "unit": "ms", "ts": 1796026501}',
        "\x00\x01\x02 binary junk \xff",
        '{"kind": "sample", "metric": "speech.onset", "value": 700.25, "unit": "ms", "ts": 1796026502}',
        '{"kind": "sample", "metric": "speech.onset", "value": 900.5, "unit": "ms", "ts": 1796026503}',
        '{"kind": "sample", "metric": "speech.onset", "value": true, "unit": "ms", "ts": 1796026503}',
        '{"kind": "run_end", "ended_at": 1796026510, "exit_code": 0}',
        "{truncated",
    ]
    path = tmp_path / "garbage" / "samples.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
