"""HTML latency reports from run files (docs/run-format.md): build, compare with gates, index.

The load tests call, at the end of every run::

    from reports import build_report, update_index
    build_report(run_dir / "samples.jsonl", run_dir / "report.html")
    update_index(run_dir.parent)

or `publish_run(run_dir)` for both. This package reads run files only; it imports no other project package.
"""

from reports.compare import Comparison, compare_runs
from reports.gates import Gate, GateError, GateResult, parse_gate
from reports.index import publish_run, update_index
from reports.report import Analysis, analyze, build_report
from reports.runfile import ReportError, Run, RunFileError, Sample, load_run
from reports.stats import MetricStats, compute_stats

__all__ = [
    "Analysis",
    "Comparison",
    "Gate",
    "GateError",
    "GateResult",
    "MetricStats",
    "ReportError",
    "Run",
    "RunFileError",
    "Sample",
    "analyze",
    "build_report",
    "compare_runs",
    "compute_stats",
    "load_run",
    "parse_gate",
    "publish_run",
    "update_index",
]
