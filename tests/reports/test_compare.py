"""reports.compare: deltas and gates between two runs (the CLI exit codes are in test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import compare_runs
from reports.compare import metric_deltas
from reports.gates import GateError
from reports.stats import compute_stats


def test_regression_fires_and_html_written(base_run: Path, slower_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "diff.html"
    cmp = compare_runs(base_run, slower_run, out, ["speech.onset.p95 > 1.2*base", "session.create.p95 > 1.2*base"])
    assert [r.gate.subject for r in cmp.fired] == ["speech.onset.p95"]
    fired = cmp.fired[0]
    assert fired.value == pytest.approx(1.5 * fired.base_value, rel=3e-3)  # type: ignore[operator]
    text = out.read_text()
    assert 'data-gates="fail"' in text and "speech.onset.p95 &gt; 1.2*base" in text
    assert 'id="plotly-gz"' in text and 'data-figure="cmp-speech-onset"' in text


def test_same_run_passes(base_run: Path) -> None:
    cmp = compare_runs(base_run, base_run, None, ["speech.onset.p99 > base", "speech.onset.p50 != base"])
    assert cmp.results and not cmp.fired


def test_bad_gate_fails_before_loading(tmp_path: Path) -> None:
    with pytest.raises(GateError):
        compare_runs(tmp_path / "missing.jsonl", tmp_path / "missing.jsonl", None, ["speech.onset.p95 >> 1"])


def test_delta_directions(base_run: Path, slower_run: Path) -> None:
    from reports.runfile import load_run

    rows = {r.metric: r for r in metric_deltas(compute_stats(load_run(base_run).samples),
                                                compute_stats(load_run(slower_run).samples))}
    p95 = next(d for d in rows["speech.onset"].deltas if d.stat == "p95")
    assert p95.direction == "worse" and p95.change == pytest.approx(0.5, rel=3e-3)
    same = next(d for d in rows["session.create"].deltas if d.stat == "p95")
    assert same.direction == "same" and same.change == 0


def test_compare_with_empty_run(base_run: Path, empty_run: Path, tmp_path: Path) -> None:
    cmp = compare_runs(base_run, empty_run, tmp_path / "d.html", ["speech.onset.p95 > base"])
    assert cmp.fired and "no data" in cmp.fired[0].reason
    assert "The run file is empty." in (tmp_path / "d.html").read_text()
