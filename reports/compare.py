"""Two runs side by side: percentile deltas, CDF overlays and the regression gates (`compare` command)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reports import charts, fmt
from reports.gates import Gate, GateResult, evaluate, parse_gate, stats_for
from reports.metrics import describe, sort_key
from reports.render import PlotlyMode, figures_json, no_plotly, plotly_embed, render
from reports.report import Analysis, analyze, run_context, write_text_atomic
from reports.runfile import load_run
from reports.stats import MetricStats, profile_label

#: Stats shown side by side.
COMPARE_STATS: tuple[str, ...] = ("p50", "p95", "p99", "max", "errors")
#: Relative change below which a delta is shown as neutral.
NOISE = 0.05


@dataclass(frozen=True)
class Delta:
    """One stat of one metric in both runs."""

    stat: str
    base: float | None
    new: float | None
    #: "better", "worse" or "same" (within NOISE, or direction unknown).
    direction: str

    @property
    def change(self) -> float | None:
        """new / base - 1, None when undefined."""
        if self.base is None or self.new is None or self.base == 0:
            return None
        return self.new / self.base - 1.0


def _direction(metric: str, stat: str, base: float | None, new: float | None) -> str:
    if base is None or new is None or base == new:
        return "same"
    if stat == "errors":
        return "worse" if new > base else "better"
    lower = describe(metric).lower_is_better
    if lower is None or (base != 0 and abs(new / base - 1.0) < NOISE):
        return "same"
    return "worse" if (new > base) == lower else "better"


@dataclass(frozen=True)
class MetricDelta:
    """A metric's row in the comparison table."""

    metric: str
    title: str
    unit: str
    base_count: int
    new_count: int
    deltas: list[Delta]


def metric_deltas(base: Mapping[str, MetricStats], new: Mapping[str, MetricStats]) -> list[MetricDelta]:
    """Side-by-side stats for every metric in either run, in catalog order."""
    rows: list[MetricDelta] = []
    for metric in sorted(set(base) | set(new), key=sort_key):
        b, n = base.get(metric), new.get(metric)
        unit = (n or b).unit if (n or b) else ""  # type: ignore[union-attr]
        deltas = []
        for stat in COMPARE_STATS:
            bv = b.get(stat) if b else None
            nv = n.get(stat) if n else None
            deltas.append(Delta(stat, bv, nv, _direction(metric, stat, bv, nv)))
        rows.append(MetricDelta(metric, describe(metric, unit).title, unit, b.count if b else 0,
                                n.count if n else 0, deltas))
    return rows


@dataclass
class Comparison:
    """BASE vs NEW with gate results."""

    base: Analysis
    new: Analysis
    results: list[GateResult] = field(default_factory=list)

    @property
    def fired(self) -> list[GateResult]:
        """Gates that failed."""
        return [r for r in self.results if r.fired]


def _profiles(a: Analysis) -> list[str]:
    return [profile_label(p) for p in a.run.network_profiles]


def run_gates(gates: Sequence[Gate], new: Analysis, base: Analysis | None) -> list[GateResult]:
    """Evaluate gates on NEW (and BASE); profile-qualified gates read that profile's stats."""
    results = []
    for gate in gates:
        new_stats = stats_for(gate, new.stats, new.by_profile, _profiles(new))
        base_stats = stats_for(gate, base.stats, base.by_profile, _profiles(base)) if base is not None else None
        results.append(evaluate(gate, new_stats, base_stats))
    return results


def compare(base: Analysis, new: Analysis, gates: Sequence[Gate | str] = ()) -> Comparison:
    """Compare two analysed runs and evaluate `gates` (strings are parsed; GateError on bad syntax)."""
    parsed = [g if isinstance(g, Gate) else parse_gate(g) for g in gates]
    return Comparison(base, new, run_gates(parsed, new, base))


def compare_charts(cmp: Comparison) -> list[charts.Chart]:
    """CDF overlays for the latency metrics both runs measured."""
    out = []
    for metric, st in cmp.new.stats.items():
        b = cmp.base.stats.get(metric)
        if b is None or not charts.is_latency(metric, st) or not charts.is_latency(metric, b):
            continue
        if metric.startswith("media."):
            continue
        chart = charts.compare_cdf(metric, cmp.base.by_metric.get(metric, ()), cmp.new.by_metric.get(metric, ()),
                                   st.unit)
        if chart is not None:
            out.append(chart)
    return out[:16]


def render_comparison(cmp: Comparison, *, base_name: str, new_name: str,
                      plotlyjs: PlotlyMode = "compressed") -> str:
    """The HTML of a comparison."""
    cdfs = compare_charts(cmp)
    common_profiles = [p for p in cmp.new.by_profile if p in cmp.base.by_profile]
    return render(
        "compare.html.j2",
        title=f"Compare · {cmp.base.run.info.run_id or base_name} → {cmp.new.run.info.run_id or new_name}",
        cmp=cmp,
        base_name=base_name,
        new_name=new_name,
        base_context=run_context(cmp.base),
        new_context=run_context(cmp.new),
        rows=metric_deltas(cmp.base.stats, cmp.new.stats),
        stats_names=COMPARE_STATS,
        profiles=common_profiles,
        charts=cdfs,
        figures=figures_json(cdfs) if cdfs else "{}",
        **(plotly_embed(plotlyjs) if cdfs else no_plotly()),
        problems=[("base", p) for p in cmp.base.run.problems()] + [("new", p) for p in cmp.new.run.problems()],
        generated_at=fmt.timestamp(time.time()),
    )


def compare_runs(base_path: Path | str, new_path: Path | str, out_path: Path | str | None = None,
                 gates: Sequence[Gate | str] = (), *, plotlyjs: PlotlyMode = "compressed") -> Comparison:
    """Load two run files, evaluate `gates` and (when `out_path` is given) write the comparison HTML.

    Raises RunFileError for unreadable files and GateError for bad gate syntax.
    """
    parsed = [g if isinstance(g, Gate) else parse_gate(g) for g in gates]  # fail fast, before loading
    base_path, new_path = Path(base_path), Path(new_path)
    cmp = compare(analyze(load_run(base_path)), analyze(load_run(new_path)), parsed)
    if out_path is not None:
        html = render_comparison(cmp, base_name=str(base_path), new_name=str(new_path), plotlyjs=plotlyjs)
        write_text_atomic(Path(out_path), html)
    return cmp
