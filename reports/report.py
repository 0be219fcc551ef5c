"""One run -> one self-contained HTML report (the `build` command and `build_report()`)."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reports import charts, fmt
from reports.analysis import (
    BitrateGroup,
    ConcurrencyLimit,
    Headline,
    Verdict,
    bitrate_groups,
    concurrency_limit,
    headlines,
    judge,
)
from reports.metrics import CATEGORIES, MetricInfo, describe
from reports.render import PlotlyMode, figures_json, json_for_script, no_plotly, plotly_embed, render
from reports.runfile import ReportError, Run, Sample, load_run
from reports.series import Buckets
from reports.stats import (
    PERCENTILES,
    SIGNIFICANT_DIGITS,
    MetricStats,
    compute_stats,
    compute_stats_by_profile,
    group_by,
    profile_label,
)

#: Name of the cached headline numbers next to a run's samples.jsonl (read by the index).
SUMMARY_FILE = "summary.json"
SUMMARY_VERSION = 2


@dataclass
class Analysis:
    """Everything computed from one run, shared by the report, compare and the index."""

    run: Run
    stats: dict[str, MetricStats]
    by_profile: dict[str, dict[str, MetricStats]]
    by_metric: dict[str, list[Sample]]
    bitrate: list[BitrateGroup]
    limit: ConcurrencyLimit | None
    verdict: Verdict
    headlines: list[Headline] = field(default_factory=list)


def analyze(run: Run) -> Analysis:
    """Compute stats, findings and the verdict of a loaded run."""
    stats = compute_stats(run.samples)
    bitrate = bitrate_groups(run.samples)
    limit = concurrency_limit(run.samples)
    verdict = judge(run, stats, bitrate)
    return Analysis(
        run=run,
        stats=stats,
        by_profile=compute_stats_by_profile(run.samples),
        by_metric=group_by(run.samples, lambda s: s.metric),
        bitrate=bitrate,
        limit=limit,
        verdict=verdict,
        headlines=headlines(stats, verdict, limit, bitrate),
    )


@dataclass(frozen=True)
class ContextItem:
    """One fact of the run context panel."""

    label: str
    value: str
    hint: str = ""


def _flat(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in data.items():
        if isinstance(v, Mapping) and v:
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append((f"{prefix}{k}", v if isinstance(v, str) else json.dumps(v)))
    return out


def run_context(a: Analysis) -> list[ContextItem]:
    """The facts at the top of a report, already scrubbed of secrets by the loader."""
    run, info = a.run, a.run.info
    items: list[ContextItem] = []
    target = info.target or "unknown"
    label = {"mock": "Mock server", "real": "Real service"}.get(target, target)
    items.append(ContextItem("Target", label, info.host or ""))
    items.append(ContextItem("Scenario", info.scenario or "-",
                             ", ".join(sorted({s.scenario for s in run.samples if s.scenario} - {info.scenario}))))
    items.append(ContextItem("Users", fmt.num(info.users) if info.users is not None else "-"))
    actual = (run.t_end - run.t0) if run.t0 is not None and run.t_end is not None else None
    planned = f"planned {fmt.duration(info.duration_s)}" if info.duration_s is not None else ""
    items.append(ContextItem("Duration", fmt.duration(actual), planned))
    if len(run.network_profiles) > 1:
        items.append(ContextItem("Network profiles", ", ".join(profile_label(p) for p in run.network_profiles),
                                 "metrics are split by profile below"))
    else:
        only = (run.network_profiles or [None])[0] or info.network_profile
        items.append(ContextItem("Network profile", only or "none (unshaped)"))
    items.append(ContextItem("Machine", f"{info.cores} cores" if info.cores else "-",
                             ", ".join(f"{k}={v}" for k, v in _flat(info.extra.get("machine", {})))
                             if isinstance(info.extra.get("machine"), Mapping) else ""))
    if info.mock:
        items.append(ContextItem("Mock profile & limits", " · ".join(f"{k} {v}" for k, v in _flat(info.mock))))
    elif target == "mock":
        items.append(ContextItem("Mock profile & limits", "-", "not recorded"))
    if info.versions:
        items.append(ContextItem("Versions", " · ".join(f"{k} {v}" for k, v in _flat(info.versions))))
    items.append(ContextItem("Started", fmt.timestamp(info.started_at if info.started_at else run.t0),
                             f"run {info.run_id}" if info.run_id else ""))
    sessions = len({s.session for s in run.samples if s.session})
    processes = f", merged from {info.processes} processes" if info.processes > 1 else ""
    items.append(ContextItem("Samples", f"{len(run.samples):,}",
                             f"{len(a.stats)} metrics, {sessions:,} sessions{processes}"))
    if run.end is not None and run.end.exit_code not in (None, 0):
        items.append(ContextItem("Exit code", str(run.end.exit_code)))
    for k, v in _flat({k: v for k, v in info.extra.items() if k != "machine"}):
        items.append(ContextItem(k.replace("_", " ").capitalize(), v))
    return items


@dataclass(frozen=True)
class MetricRow:
    """A metric's row in the stats table."""

    metric: str
    info: MetricInfo
    stats: MetricStats


def metric_groups(stats: Mapping[str, MetricStats]) -> list[tuple[str, list[MetricRow]]]:
    """Stats rows grouped by catalog category, in display order."""
    groups: dict[str, list[MetricRow]] = {c: [] for c in CATEGORIES}
    for metric, st in stats.items():
        info = describe(metric, st.unit)
        groups[info.category].append(MetricRow(metric, info, st))
    return [(c, rows) for c, rows in groups.items() if rows]


@dataclass(frozen=True)
class Section:
    """A block of charts with an anchor in the page navigation."""

    id: str
    title: str
    charts: list[charts.Chart]
    intro: str = ""
    nav: str = ""

    def __post_init__(self) -> None:
        if not self.nav:
            object.__setattr__(self, "nav", self.title)


def report_sections(a: Analysis) -> list[Section]:
    """Chart sections present in this run, in reading order; absent metrics skip their section."""
    run = a.run
    t0, t_end = run.t0, run.t_end
    if t0 is None or t_end is None:
        return []
    last_sample = max((s.ts for s in run.samples), default=t0)
    buckets = Buckets.for_span(t0, max(t_end, last_sample))
    sections: list[Section] = []
    dists = charts.latency_distributions(a.by_metric, a.stats, list(a.by_profile))
    if dists:
        sections.append(Section("distributions", "Latency distributions", dists,
                                "Where most requests land and how long the tail is. The dotted lines are the "
                                "p50, p95 and p99 from the table.", nav="Distributions"))
    # Latency windows need enough samples each for a meaningful p95: aim for ~20 per window.
    busiest = max((st.count for m, st in a.stats.items()
                   if charts.is_latency(m, st) and not m.startswith("media.")), default=0)
    tl_buckets = Buckets.for_span(t0, max(t_end, last_sample), max_buckets=min(120, max(10, busiest // 20)))
    if (tl := charts.timeline(a.by_metric, a.stats, tl_buckets)) is not None:
        sections.append(Section("timeline", "Latency and live sessions over time", [tl],
                                "Does latency climb as sessions pile up?", nav="Over time"))
    if (br := charts.bitrate_chart(run.samples, a.bitrate, buckets)) is not None:
        sections.append(Section("bandwidth", "Bandwidth", [br]))
    if (fps := charts.fps_chart(a.by_metric, buckets)) is not None:
        sections.append(Section("fps", "Frame rate and freezes", [fps], nav="Frame rate"))
    if (cc := charts.concurrency_chart(a.by_metric, a.limit, t0)) is not None:
        sections.append(Section("concurrency", "Concurrency staircase", [cc], nav="Concurrency"))
    if (er := charts.errors_chart(run.samples, buckets)) is not None:
        sections.append(Section("errors", "Errors", [er]))
    return sections


def error_table(stats: Mapping[str, MetricStats]) -> list[tuple[str, str, int, float]]:
    """(metric title, code, count, share of the metric's attempts) for every error, most frequent first."""
    rows = [
        (describe(m).title, code, n, n / st.attempts)
        for m, st in stats.items()
        for code, n in st.error_codes.items()
    ]
    return sorted(rows, key=lambda r: -r[2])


#: Below this many successful samples, a metric's tail percentiles are flagged as rough.
FEW_SAMPLES = 20


def sample_size_notes(a: Analysis) -> list[str]:
    """Warnings about metrics too small for meaningful tail percentiles."""
    if len(a.run.samples) == 1:
        return ["This run has a single sample: every percentile of its metric equals that one value."]
    few = [m for m, st in a.stats.items() if 0 < st.count < FEW_SAMPLES]
    if not few:
        return []
    names = ", ".join(f"`{m}`" for m in few[:6]) + (f" and {len(few) - 6} more" if len(few) > 6 else "")
    return [f"Fewer than {FEW_SAMPLES} successful samples for {names}: their p95 and above are just the "
            "largest values seen, not a stable estimate."]


def report_data(a: Analysis) -> dict[str, Any]:
    """The machine-readable summary embedded in every report (`#report-data`)."""
    return {
        "run_id": a.run.info.run_id,
        "verdict": a.verdict.level,
        "stats": {m: s.to_dict() for m, s in a.stats.items()},
        "by_profile": {p: {m: s.to_dict() for m, s in st.items()} for p, st in a.by_profile.items()},
        "significant_digits": SIGNIFICANT_DIGITS,
    }


def render_report(a: Analysis, *, source_name: str = "", plotlyjs: PlotlyMode = "compressed") -> str:
    """The HTML of one run's report."""
    sections = report_sections(a)
    all_charts = [c for s in sections for c in s.charts]
    run = a.run
    title = f"{run.info.scenario or 'Run'} · {run.info.run_id or run.path.stem}"
    return render(
        "report.html.j2",
        title=title,
        a=a,
        info=run.info,
        context=run_context(a),
        problems=run.problems() + sample_size_notes(a),
        groups=metric_groups(a.stats),
        percentiles=[name for name, _ in PERCENTILES],
        profiles=list(a.by_profile),
        sections=sections,
        errors=error_table(a.stats),
        figures=figures_json(all_charts) if all_charts else "{}",
        **(plotly_embed(plotlyjs) if all_charts else no_plotly()),
        data_json=json_for_script(report_data(a)),
        source_name=source_name or run.path.name,
        generated_at=fmt.timestamp(time.time()),
        significant_digits=SIGNIFICANT_DIGITS,
    )


def summary_dict(a: Analysis) -> dict[str, Any]:
    """Headline numbers of a run for the index (cached as summary.json)."""
    info, run = a.run.info, a.run
    return {
        "version": SUMMARY_VERSION,
        "run_id": info.run_id,
        "started_at": info.started_at if info.started_at is not None else run.t0,
        "scenario": info.scenario,
        "target": info.target,
        "users": info.users,
        "duration_s": (run.t_end - run.t0) if run.t0 is not None and run.t_end is not None else None,
        "network_profiles": [p for p in run.network_profiles if p],
        "samples": len(run.samples),
        "verdict": a.verdict.level,
        "verdict_summary": a.verdict.summary,
        "verdict_lead": a.verdict.lead,
        "error_rate": a.verdict.error_rate,
        "headlines": [{"label": h.label, "value": h.value, "unit": h.unit, "key": h.key} for h in a.headlines],
        "problems": run.problems(),
    }


def source_signature(path: Path) -> dict[str, float]:
    """Size and mtime of a run file: a summary cache is valid while they match."""
    st = path.stat()
    return {"size": st.st_size, "mtime": st.st_mtime}


def write_summary(run_path: Path, a: Analysis) -> Path:
    """Cache the headline numbers next to the run file (atomic replace)."""
    out = run_path.parent / SUMMARY_FILE
    payload = {**summary_dict(a), "source": source_signature(run_path)}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    tmp.replace(out)
    return out


def write_text_atomic(path: Path, text: str) -> None:
    """Write via a temp file + rename so a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise ReportError(f"{path}: cannot write ({exc.strerror or exc})") from exc


def build_report(run_path: Path | str, out_path: Path | str | None = None, *,
                 plotlyjs: PlotlyMode = "compressed") -> Path:
    """Build the HTML report of `run_path` into `out_path` (default: report.html next to the run file).

    `plotlyjs="raw"` embeds plotly.js uncompressed (bigger, but needs no DecompressionStream).

    Never fails on bad data (empty runs, garbage lines, error-only runs produce a report that says so);
    raises `ReportError` when the run file cannot be read or the report cannot be written.
    """
    run_path = Path(run_path)
    out = Path(out_path) if out_path is not None else run_path.parent / "report.html"
    a = analyze(load_run(run_path))
    write_text_atomic(out, render_report(a, source_name=run_path.name, plotlyjs=plotlyjs))
    if out.parent.resolve() == run_path.parent.resolve():
        with contextlib.suppress(OSError):  # the cache is an optimisation only
            write_summary(run_path, a)
    return out
