"""`reports/runs/index.html`: every run directory with its headline numbers and a link to its report."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports import fmt
from reports.render import no_plotly, render
from reports.report import (
    SUMMARY_FILE,
    SUMMARY_VERSION,
    analyze,
    build_report,
    source_signature,
    summary_dict,
    write_summary,
    write_text_atomic,
)
from reports.runfile import ReportError, load_run

RUN_FILE = "samples.jsonl"
REPORT_FILE = "report.html"
INDEX_FILE = "index.html"
#: Headline columns shown at most (besides the error rate).
MAX_HEADLINE_COLUMNS = 3


#: Every key the index template reads, with its value when unknown.
SUMMARY_DEFAULTS: dict[str, Any] = {
    "run_id": None, "started_at": None, "scenario": None, "target": None, "users": None, "duration_s": None,
    "network_profiles": [], "samples": None, "verdict": None, "verdict_summary": "", "verdict_lead": "",
    "error_rate": None, "headlines": [], "problems": [],
}


@dataclass
class IndexRow:
    """One run directory."""

    name: str
    summary: dict[str, Any]
    has_report: bool
    error: str = ""
    headlines: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def href(self) -> str:
        """Relative link to the run's report."""
        return f"{self.name}/{REPORT_FILE}"


def _cached_summary(run_file: Path) -> dict[str, Any] | None:
    cache = run_file.parent / SUMMARY_FILE
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != SUMMARY_VERSION:
        return None
    try:
        if data.get("source") != source_signature(run_file):
            return None
    except OSError:
        return None
    return data


def run_summary(run_file: Path) -> dict[str, Any]:
    """Headline numbers of one run, from summary.json when it is current, else computed (and cached)."""
    cached = _cached_summary(run_file)
    if cached is not None:
        return cached
    a = analyze(load_run(run_file))
    with contextlib.suppress(OSError):  # read-only run directory: compute every time
        write_summary(run_file, a)
    return summary_dict(a)


def collect_runs(runs_dir: Path, *, build_missing: bool = False) -> list[IndexRow]:
    """Every subdirectory holding a samples.jsonl, newest first."""
    rows: list[IndexRow] = []
    for sub in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        run_file = sub / RUN_FILE
        if not run_file.is_file():
            continue
        report = sub / REPORT_FILE
        try:
            if build_missing and not report.is_file():
                build_report(run_file, report)
            summary = run_summary(run_file)
            row = IndexRow(sub.name, summary, report.is_file())
        except ReportError as exc:
            row = IndexRow(sub.name, {"run_id": sub.name}, report.is_file(), error=str(exc))
        row.summary = {**SUMMARY_DEFAULTS, **row.summary}
        row.headlines = {h["key"]: h for h in row.summary["headlines"] if isinstance(h, dict) and "key" in h}
        rows.append(row)
    rows.sort(key=lambda r: (r.summary.get("started_at") or 0.0, r.name), reverse=True)
    return rows


def headline_columns(rows: list[IndexRow]) -> list[tuple[str, str]]:
    """(key, label) of the headline numbers most runs have, error rate excluded."""
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}
    for row in rows:
        for key, h in row.headlines.items():
            if key != "error_rate":
                counts[key] += 1
                labels.setdefault(key, str(h.get("label", key)))
    return [(k, labels[k]) for k, _ in counts.most_common(MAX_HEADLINE_COLUMNS)]


def render_index(runs_dir: Path, rows: list[IndexRow]) -> str:
    """The HTML of the runs index."""
    return render(
        "index.html.j2",
        title=f"Runs · {runs_dir.name}",
        runs_dir=runs_dir,
        rows=rows,
        columns=headline_columns(rows),
        figures="{}",
        **no_plotly(),
        generated_at=fmt.timestamp(time.time()),
    )


def update_index(runs_dir: Path | str, *, build_missing: bool = False) -> Path:
    """(Re)write `runs_dir/index.html` listing every run; returns its path.

    `build_missing=True` first builds report.html for runs that have samples but no report.
    Raises ReportError when `runs_dir` is not a directory or the index cannot be written.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise ReportError(f"{runs_dir}: not a directory of runs")
    rows = collect_runs(runs_dir, build_missing=build_missing)
    out = runs_dir / INDEX_FILE
    write_text_atomic(out, render_index(runs_dir, rows))
    return out


def publish_run(run_dir: Path | str) -> tuple[Path, Path]:
    """The end-of-run hook: build `run_dir/report.html` and refresh the parent's index.html.

    Returns (report path, index path).
    """
    run_dir = Path(run_dir)
    report = build_report(run_dir / RUN_FILE, run_dir / REPORT_FILE)
    return report, update_index(run_dir.parent)
