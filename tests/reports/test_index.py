"""reports.index: the runs listing, its summary cache and the end-of-run hook."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reports import ReportError, publish_run, update_index
from reports.index import collect_runs
from tests.reports.synth import SynthSpec, write_synthetic


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    write_synthetic(root / "20261130-081500-aaaa" / "samples.jsonl", SynthSpec(sessions=3, duration_s=12))
    write_synthetic(root / "20261130-091500-bbbb" / "samples.jsonl", SynthSpec(sessions=3, duration_s=12, seed=3))
    (root / "empty-run").mkdir()
    (root / "empty-run" / "samples.jsonl").write_text("")
    (root / "not-a-run").mkdir()
    (root / "stray.txt").write_text("hello")
    return root


def test_publish_run_builds_report_and_index(runs_dir: Path) -> None:
    report, index = publish_run(runs_dir / "20261130-081500-aaaa")
    assert report.is_file() and index == runs_dir / "index.html"
    text = index.read_text()
    assert 'href="20261130-081500-aaaa/report.html"' in text  # relative link, works when the folder moves
    assert "20261130-091500-bbbb" in text and "no report" in text  # listed, not linked yet
    assert "empty-run" in text and "The run file is empty." in text
    assert "not-a-run" not in text and "stray" not in text


def test_build_missing(runs_dir: Path) -> None:
    update_index(runs_dir, build_missing=True)
    rows = collect_runs(runs_dir)
    assert [r.name for r in rows if r.has_report] == [r.name for r in rows]
    assert {r.summary["verdict"] for r in rows} >= {"NO DATA"}


def test_summary_cache_is_used_and_invalidated(runs_dir: Path) -> None:
    run_dir = runs_dir / "20261130-081500-aaaa"
    update_index(runs_dir)
    cache = run_dir / "summary.json"
    data = json.loads(cache.read_text())
    data["scenario"] = "from-cache"
    cache.write_text(json.dumps(data))
    assert "from-cache" in update_index(runs_dir).read_text()
    samples = run_dir / "samples.jsonl"
    samples.write_text(samples.read_text() + "\n")  # the run file changed: recompute
    st = samples.stat()
    os.utime(samples, (st.st_atime, st.st_mtime + 5))
    assert "from-cache" not in update_index(runs_dir).read_text()


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ReportError):
        update_index(tmp_path / "nope")


def test_empty_runs_dir(tmp_path: Path) -> None:
    assert "No runs yet." in update_index(tmp_path).read_text()
