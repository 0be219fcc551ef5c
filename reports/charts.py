"""Plotly figures (as plain JSON-ready dicts) for the report sections.

Each builder returns `None` (or an empty list) when its metrics are absent, so the report can skip the
section. Figures carry downsampled data only (see reports.series); percentile markers come from the HDR
stats so charts and tables agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports import fmt
from reports.analysis import BAND, BitrateGroup, ConcurrencyLimit
from reports.metrics import describe, error_label
from reports.runfile import Sample
from reports.series import Buckets, bucket_percentiles, bucket_reduce, cdf, histogram, round_list, round_sig
from reports.stats import MetricStats, group_by, profile_label

PALETTE: tuple[str, ...] = (
    "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16", "#64748b",
)
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
FAIL = "#dc2626"
LIVE = "#94a3b8"
TIME_AXIS = "time since start (s)"
PCT_TICKS = [0, 25, 50, 75, 100]
PCT_LABELS = ["0%", "25%", "50%", "75%", "100%"]

#: Latency metrics drawn by default on the timeline (others are one legend click away).
_TIMELINE_DEFAULT: tuple[str, ...] = (
    "session.first_frame", "session.create", "speech.onset", "speech.event", "interrupt.latency",
)


@dataclass(frozen=True)
class Chart:
    """One figure with the text around it."""

    id: str
    title: str
    caption: str
    figure: dict[str, Any]
    height: int = 340


def _axis(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "gridcolor": GRID, "zerolinecolor": "#d1d5db", "linecolor": "#9ca3af", "ticks": "outside",
        "tickcolor": "#d1d5db", "automargin": True, "title": {"font": {"size": 12, "color": MUTED}},
    }
    title = kw.pop("title", None)
    if title is not None:
        base["title"] = {"text": title, "font": {"size": 12, "color": MUTED}}
    base.update(kw)
    return base


def _layout(**kw: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "font": {"family": "Inter, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12,
                 "color": INK},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "colorway": list(PALETTE),
        "margin": {"l": 56, "r": 24, "t": 16, "b": 40},
        "hovermode": "closest",
        "hoverlabel": {"bgcolor": "#ffffff", "bordercolor": "#d1d5db", "font": {"color": INK}},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom",
                   "bgcolor": "rgba(0,0,0,0)", "font": {"size": 11}},
        "xaxis": _axis(),
        "yaxis": _axis(),
    }
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


_MANTISSAS: tuple[tuple[float, ...], ...] = (
    (1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0),
    (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0),
)


def log_ticks(lo: float, hi: float) -> list[float]:
    """3 to 8 readable tick values (1-2-5 style series) inside [lo, hi] for a log axis."""
    if lo <= 0 or hi <= 0 or hi < lo:
        return []
    best: list[float] = []
    for mantissas in _MANTISSAS:
        ticks = [
            round_sig(m * 10.0**e, 6)
            for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            for m in mantissas
            if lo <= m * 10.0**e <= hi
        ]
        if len(ticks) > 8:
            break
        best = ticks
        if len(ticks) >= 3:
            break
    return best


def _log_axis(values_lo: float, values_hi: float, title: str) -> dict[str, Any]:
    ticks = log_ticks(values_lo, values_hi)
    if len(ticks) < 2:
        return _axis(type="log", title=title)
    return _axis(type="log", title=title, tickvals=ticks, ticktext=[fmt.num(t) for t in ticks])


def profile_colors(labels: Sequence[str]) -> dict[str, str]:
    """A stable colour per network profile label (same in every chart of a report)."""
    return {label: PALETTE[(i + 1) % len(PALETTE)] for i, label in enumerate(labels)}


def _ok_arrays(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
    ok = [s for s in samples if s.ok and s.value is not None]
    ts = np.fromiter((s.ts for s in ok), dtype=float, count=len(ok))
    values = np.fromiter((s.value for s in ok), dtype=float, count=len(ok))
    return ts, values


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def is_latency(metric: str, stats: MetricStats) -> bool:
    """Metrics drawn as latency distributions: everything measured in ms or s."""
    return stats.unit in ("ms", "s") and stats.count > 0


# --------------------------------------------------------------------------------------------------
# Latency distributions


def _axis_fraction(v: float, lo: float, hi: float, log: bool) -> float:
    """Where `v` sits between `lo` and `hi` (0..1) on a linear or log axis."""
    if hi <= lo:
        return 0.5
    return math.log10(v / lo) / math.log10(hi / lo) if log else (v - lo) / (hi - lo)


def _bins_for(n: int) -> int:
    return int(min(48, max(8, 2 * math.sqrt(n))))


def latency_distribution(metric: str, samples: Sequence[Sample], stats: MetricStats,
                         profiles: Sequence[str] = ()) -> Chart | None:
    """Histogram (percent of samples per bin) plus CDF for one latency metric, log x axis when positive.

    With several network `profiles`, one CDF per profile (colours stable across charts).
    """
    _, values = _ok_arrays(samples)
    if values.size == 0:
        return None
    info = describe(metric, stats.unit)
    log = bool(values.min() > 0)
    edges, counts = histogram(values, log=log, bins=_bins_for(values.size))
    share = counts / values.size * 100.0
    step_y = [*round_list(share, 3), round_sig(float(share[-1]), 3)]
    data: list[dict[str, Any]] = [
        {
            "type": "scatter", "mode": "lines", "name": "share of samples", "x": round_list(edges, 5),
            "y": step_y, "line": {"shape": "hv", "width": 1, "color": PALETTE[0]}, "fill": "tozeroy",
            "fillcolor": _rgba(PALETTE[0], 0.18),
            "hovertemplate": f"from %{{x:,.4~g}} {stats.unit}: %{{y:.2f}}% of samples<extra></extra>",
        }
    ]
    by_profile = group_by(samples, lambda s: profile_label(s.network_profile))
    split = len(profiles) > 1
    colors = profile_colors(profiles)
    groups = [(p, by_profile[p]) for p in profiles if p in by_profile] if split else [("all", list(samples))]
    for label, group in groups:
        _, vals = _ok_arrays(group)
        if vals.size == 0:
            continue
        xs, ys = cdf(np.sort(vals))
        data.append(
            {
                "type": "scatter", "mode": "lines", "name": f"cumulative, {label}" if split else "cumulative",
                "x": xs, "y": ys, "yaxis": "y2",
                "line": {"color": colors[label] if split else INK, "width": 2, "shape": "hv"},
                "hovertemplate": f"{label}: %{{y:.2f}}% <= %{{x:,.4~g}} {stats.unit}<extra></extra>",
            }
        )
    lo, hi = float(edges[0]), float(edges[-1])
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    last_pos = -1.0
    shift = 0
    marks: dict[float, list[str]] = {}
    for name in ("p50", "p95", "p99"):
        v = stats.get(name)
        if v is not None:
            marks.setdefault(v, []).append(name)
    for v, names in marks.items():
        name = " = ".join(names)
        pos = _axis_fraction(v, lo, hi, log)
        shift = shift + 12 if pos - last_pos < 0.12 else 0
        last_pos = pos
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": v, "x1": v, "y0": 0, "y1": 1,
                       "line": {"color": MUTED, "width": 1, "dash": "dot"}})
        annotations.append({"x": math.log10(v) if log else v, "xref": "x", "yref": "paper", "y": 1,
                            "yanchor": "bottom", "yshift": shift, "text": f"{name} {fmt.num(v)}",
                            "showarrow": False, "font": {"size": 10, "color": MUTED}})
    title = f"{info.title} ({stats.unit})"
    layout = _layout(
        xaxis=_log_axis(lo, hi, title) if log else _axis(title=title),
        yaxis=_axis(title="% of samples", rangemode="tozero"),
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 101], "showgrid": False, "tickmode": "array",
                "tickvals": PCT_TICKS, "ticktext": PCT_LABELS, "tickcolor": "#d1d5db", "ticks": "outside",
                "title": {"text": "cumulative", "font": {"size": 12, "color": MUTED}}},
        shapes=shapes, annotations=annotations, margin={"t": 36 + shift, "r": 56},
        legend={"y": -0.3, "yanchor": "top"},
    )
    caption = (f"{stats.count:,} samples. Filled: share of samples per bin"
               f"{' (log-spaced)' if log else ''}; line: cumulative share at or below a value.")
    return Chart(f"dist-{_slug(metric)}", info.title, caption, {"data": data, "layout": layout}, height=300)


def cdf_overview(title: str, chart_id: str, metrics: Sequence[str], by_metric: Mapping[str, Sequence[Sample]],
                 stats: Mapping[str, MetricStats]) -> Chart | None:
    """One CDF per metric on a shared axis (used for the many small REST operations)."""
    data: list[dict[str, Any]] = []
    lo, hi, log = math.inf, 0.0, True
    for i, metric in enumerate(metrics):
        _, vals = _ok_arrays(by_metric.get(metric, ()))
        if vals.size == 0:
            continue
        lo, hi = min(lo, float(vals.min())), max(hi, float(vals.max()))
        log = log and bool(vals.min() > 0)
        xs, ys = cdf(np.sort(vals))
        p95 = stats[metric].get("p95")
        data.append({"type": "scatter", "mode": "lines", "name": f"{metric.removeprefix('rest.')} "
                     f"(p95 {fmt.num(p95)})", "x": xs, "y": ys,
                     "line": {"color": PALETTE[i % len(PALETTE)], "width": 2, "shape": "hv"},
                     "hovertemplate": f"{metric}: %{{y:.2f}}% <= %{{x:,.4~g}} ms<extra></extra>"})
    if not data:
        return None
    unit = next(iter(stats[m].unit for m in metrics))
    layout = _layout(
        xaxis=_log_axis(lo, hi, f"duration ({unit})") if log and hi > lo else _axis(title=f"duration ({unit})"),
        yaxis=_axis(title="cumulative", range=[0, 101], tickvals=PCT_TICKS, ticktext=PCT_LABELS),
        legend={"y": -0.3, "yanchor": "top"},
    )
    caption = "Cumulative share of calls at or below a duration, one line per operation (p95 in the legend)."
    return Chart(chart_id, title, caption, {"data": data, "layout": layout}, height=300)


def latency_distributions(by_metric: Mapping[str, Sequence[Sample]], stats: Mapping[str, MetricStats],
                          profiles: Sequence[str] = ()) -> list[Chart]:
    """A distribution chart per latency metric (session, speech, unknown) and one CDF chart for REST calls."""
    charts: list[Chart] = []
    rest: list[str] = []
    for metric, st in stats.items():
        if not is_latency(metric, st) or metric.startswith("media."):
            continue
        if metric.startswith("rest."):
            rest.append(metric)
            continue
        chart = latency_distribution(metric, by_metric.get(metric, ()), st, profiles)
        if chart is not None:
            charts.append(chart)
    if rest:
        chart = cdf_overview("REST calls", "dist-rest", rest, by_metric, stats)
        if chart is not None:
            charts.append(chart)
    return charts


# --------------------------------------------------------------------------------------------------
# Timeline


def timeline(by_metric: Mapping[str, Sequence[Sample]], stats: Mapping[str, MetricStats],
             buckets: Buckets) -> Chart | None:
    """Per-window p95 of every latency metric, with live sessions on a second axis."""
    latency = [m for m, st in stats.items()
               if is_latency(m, st) and m != "speech.duration_error" and not m.startswith("media.")]
    # REST calls duplicate the session/speech timings; draw them only when nothing else is there.
    latency = [m for m in latency if not m.startswith("rest.")] or latency
    live = [s for s in by_metric.get("sessions.live", ()) if s.ok and s.value is not None]
    if not latency and not live:
        return None
    x = buckets.centers()
    data: list[dict[str, Any]] = []
    shown = [m for m in _TIMELINE_DEFAULT if m in latency] or latency[:4]
    if live:
        ts, values = _ok_arrays(live)
        peak = bucket_reduce(buckets, ts, values, "max")
        data.append({
            "type": "scatter", "mode": "lines", "name": "live sessions", "x": x, "y": round_list(peak),
            "yaxis": "y2" if latency else "y", "line": {"color": LIVE, "width": 1, "shape": "hv"},
            "fill": "tozeroy", "fillcolor": _rgba(LIVE, 0.15),
            "hovertemplate": "%{y:,} live sessions<extra></extra>",
        })
    for i, metric in enumerate(latency):
        ts, values = _ok_arrays(by_metric[metric])
        pct, counts = bucket_percentiles(buckets, ts, values, (50.0, 95.0))
        custom = [[a, int(n)] for a, n in zip(round_list(pct[50.0]), counts, strict=True)]
        title = describe(metric).title
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": title, "x": x, "y": round_list(pct[95.0]),
            "customdata": custom, "connectgaps": False,
            "line": {"color": PALETTE[i % len(PALETTE)], "width": 2}, "marker": {"size": 4},
            "visible": True if metric in shown else "legendonly",
            "hovertemplate": f"<b>{title}</b> p95 %{{y:,.4~g}} ms, p50 %{{customdata[0]:,.4~g}} ms "
                             "(n=%{customdata[1]})<extra></extra>",
        })
    layout = _layout(
        xaxis=_axis(title=TIME_AXIS, rangemode="tozero"),
        yaxis=_axis(title="p95 latency (ms)" if latency else "live sessions", rangemode="tozero"),
        hovermode="x",
    )
    if latency and live:
        layout["yaxis2"] = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero",
                            "tickmode": "auto", "nticks": 6,
                            "title": {"text": "live sessions", "font": {"size": 12, "color": MUTED}}}
        layout["margin"] = {**layout["margin"], "r": 56}
    caption = (f"Each point is the p95 of one {fmt.num(buckets.width)} s window (hover for p50 and sample "
               "count). Click legend entries to show more metrics.") if latency else \
        f"Live sessions, peak per {fmt.num(buckets.width)} s window."
    return Chart("timeline", "Latency and live sessions over time", caption,
                 {"data": data, "layout": layout}, height=380)


# --------------------------------------------------------------------------------------------------
# Bandwidth


def bitrate_chart(samples: Sequence[Sample], groups: Sequence[BitrateGroup], buckets: Buckets) -> Chart | None:
    """Median received bitrate per window for each tier/codec, over its target +-BAND band."""
    bitrate = [s for s in samples if s.metric == "media.bitrate"]
    if not bitrate:
        return None
    by_group = group_by(bitrate, lambda s: (s.tier or "any", s.codec or "any"))
    x = buckets.centers()
    data: list[dict[str, Any]] = []
    for i, g in enumerate(groups):
        group = by_group.get((g.tier, g.codec), [])
        ts, values = _ok_arrays(group)
        if values.size == 0:
            continue
        color = PALETTE[i % len(PALETTE)]
        targets = [s for s in group if s.target]
        if targets:
            tts = np.fromiter((s.ts for s in targets), dtype=float, count=len(targets))
            tvals = np.fromiter((s.target for s in targets), dtype=float, count=len(targets))
            tgt = bucket_percentiles(buckets, tts, tvals, (50.0,))[0][50.0]
            tgt = _fill_gaps(tgt)
            data.append({"type": "scatter", "mode": "lines", "x": x, "y": round_list(tgt * (1 - BAND)),
                         "line": {"width": 0, "shape": "hv", "color": color}, "hoverinfo": "skip",
                         "showlegend": False, "legendgroup": g.label})
            data.append({"type": "scatter", "mode": "lines", "x": x, "y": round_list(tgt * (1 + BAND)),
                         "name": f"{g.label} target ±{BAND:.0%}", "fill": "tonexty",
                         "fillcolor": _rgba(color, 0.13), "line": {"width": 0, "shape": "hv", "color": color},
                         "hoverinfo": "skip", "legendgroup": g.label, "showlegend": False})
        pct, counts = bucket_percentiles(buckets, ts, values, (10.0, 50.0, 90.0))
        custom = [[a, b, int(n)] for a, b, n in
                  zip(round_list(pct[10.0]), round_list(pct[90.0]), counts, strict=True)]
        data.append({
            "type": "scatter", "mode": "lines", "name": g.label, "x": x, "y": round_list(pct[50.0]),
            "customdata": custom, "legendgroup": g.label, "line": {"color": color, "width": 2},
            "hovertemplate": f"<b>{g.label}</b> p50 %{{y:,.4~g}} kbps (p10 %{{customdata[0]:,.4~g}}, "
                             "p90 %{customdata[1]:,.4~g}, n=%{customdata[2]})<extra></extra>",
        })
    if not data:
        return None
    layout = _layout(xaxis=_axis(title=TIME_AXIS, rangemode="tozero"),
                     yaxis=_axis(title="received video bitrate (kbps)", rangemode="tozero"), hovermode="x")
    caption = (f"Line: median bitrate across sessions per {fmt.num(buckets.width)} s window. Shaded: the tier "
               f"target ±{BAND:.0%}. A line inside its band is on target.")
    return Chart("bitrate", "Bandwidth per tier and codec", caption, {"data": data, "layout": layout}, height=360)


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Forward/backward fill NaNs (targets are constant between windows)."""
    out = values.copy()
    valid = np.flatnonzero(~np.isnan(out))
    if valid.size == 0:
        return out
    idx = np.maximum.accumulate(np.where(~np.isnan(out), np.arange(out.size), 0))
    out = out[idx]
    out[: valid[0]] = out[valid[0]]
    return out


# --------------------------------------------------------------------------------------------------
# Frame rate and freezes


def fps_chart(by_metric: Mapping[str, Sequence[Sample]], buckets: Buckets) -> Chart | None:
    """Median fps per tier per window (with its target) above freezes per window."""
    fps = [s for s in by_metric.get("media.fps", ()) if s.ok and s.value is not None]
    freezes = [s for s in by_metric.get("media.freezes", ()) if s.ok and s.value is not None]
    if not fps and not freezes:
        return None
    x = buckets.centers()
    data: list[dict[str, Any]] = []
    both = bool(fps and freezes)
    fps_axis, freeze_axis = ("y", "y2") if both else ("y", "y")
    for i, (tier, group) in enumerate(sorted(group_by(fps, lambda s: s.tier or "any").items())):
        ts, values = _ok_arrays(group)
        pct, counts = bucket_percentiles(buckets, ts, values, (5.0, 50.0))
        color = PALETTE[i % len(PALETTE)]
        custom = [[a, int(n)] for a, n in zip(round_list(pct[5.0]), counts, strict=True)]
        data.append({
            "type": "scatter", "mode": "lines", "name": f"fps {tier}", "x": x, "y": round_list(pct[50.0]),
            "yaxis": fps_axis, "customdata": custom, "line": {"color": color, "width": 2},
            "hovertemplate": f"<b>{tier}</b> p50 %{{y:.3~g}} fps, p5 %{{customdata[0]:.3~g}} fps "
                             "(n=%{customdata[1]})<extra></extra>",
        })
        targets = [s.target for s in group if s.target]
        if targets:
            target = statistics.median(targets)
            data.append({"type": "scatter", "mode": "lines", "name": f"target {tier} ({fmt.num(target)} fps)",
                         "x": [x[0], x[-1]], "y": [target, target], "yaxis": fps_axis,
                         "line": {"color": color, "width": 1, "dash": "dash"}, "hoverinfo": "skip"})
    if freezes:
        ts, values = _ok_arrays(freezes)
        total = bucket_reduce(buckets, ts, values, "sum")
        data.append({"type": "bar", "name": "freezes", "x": x, "y": round_list(total), "yaxis": freeze_axis,
                     "marker": {"color": _rgba(FAIL, 0.55)}, "width": buckets.width * 0.9,
                     "hovertemplate": "%{y:,} freezes (all sessions)<extra></extra>"})
    if both:
        layout = _layout(
            xaxis=_axis(title=TIME_AXIS, rangemode="tozero", anchor="y2"),
            yaxis=_axis(title="frames per second", domain=[0.38, 1.0], rangemode="tozero"),
            yaxis2=_axis(title="freezes", domain=[0.0, 0.26], rangemode="tozero"),
            hovermode="x",
        )
    else:
        layout = _layout(xaxis=_axis(title=TIME_AXIS, rangemode="tozero"),
                         yaxis=_axis(title="frames per second" if fps else "freezes", rangemode="tozero"),
                         hovermode="x")
    caption = (f"Top: median frame rate across sessions per {fmt.num(buckets.width)} s window, dashed: tier "
               "target. Bottom: video freezes (gaps > 200 ms) summed over all sessions per window.")
    return Chart("fps", "Frame rate and freezes", caption, {"data": data, "layout": layout}, height=380)


# --------------------------------------------------------------------------------------------------
# Concurrency staircase


def concurrency_chart(by_metric: Mapping[str, Sequence[Sample]], limit: ConcurrencyLimit | None,
                      t0: float) -> Chart | None:
    """The staircase of held sessions with the first failed step marked."""
    steps = sorted(by_metric.get("concurrency.step", ()), key=lambda s: s.ts)
    if not steps or limit is None:
        return None
    ok = [s for s in steps if s.ok and s.value is not None]
    failed = [s for s in steps if not s.ok]
    data: list[dict[str, Any]] = []
    live = [s for s in by_metric.get("sessions.live", ()) if s.ok and s.value is not None]
    if live and len(live) <= 5000:
        data.append({"type": "scatter", "mode": "lines", "name": "live sessions",
                     "x": round_list([s.ts - t0 for s in live], 6), "y": [s.value for s in live],
                     "line": {"color": LIVE, "width": 1, "shape": "hv"}, "hoverinfo": "skip"})
    if ok:
        data.append({"type": "scatter", "mode": "lines+markers", "name": "sessions held",
                     "x": round_list([s.ts - t0 for s in ok], 6), "y": [s.value for s in ok],
                     "line": {"color": PALETTE[0], "width": 2, "shape": "hv"}, "marker": {"size": 6},
                     "hovertemplate": "held %{y:,} sessions at %{x:.4~g} s<extra></extra>"})
    last_ok = max((s.value for s in ok if s.value is not None), default=0.0)
    if failed:
        fx = [s.ts - t0 for s in failed]
        fy = [s.value if s.value is not None else (s.target if s.target is not None else last_ok) for s in failed]
        data.append({"type": "scatter", "mode": "markers", "name": "failed step",
                     "x": round_list(fx, 6), "y": fy, "customdata": [error_label(s.error or "?") for s in failed],
                     "marker": {"color": FAIL, "size": 11, "symbol": "x"},
                     "hovertemplate": "step failed at %{x:.4~g} s: %{customdata}<extra></extra>"})
    annotations: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    x_max = max((max(trace["x"], default=0) or 0 for trace in data), default=0)
    left_half = limit.failed_at is not None and (limit.failed_at - t0) < 0.5 * max(x_max, 1e-9)
    if limit.limit_hit and limit.failed_at is not None:
        level = limit.failed_level if limit.failed_level is not None else last_ok
        held = fmt.num(limit.max_held) if limit.max_held is not None else "0"
        annotations.append({
            "x": limit.failed_at - t0, "y": level, "text": f"limit hit: held {held}, next step failed"
            + (f" ({error_label(limit.error)})" if limit.error else ""),
            "showarrow": True, "arrowhead": 2, "arrowcolor": FAIL, "ay": -36,
            "ax": 50 if left_half else -50, "xanchor": "left" if left_half else "right",
            "font": {"color": FAIL, "size": 12}, "bgcolor": "rgba(255,255,255,0.9)",
        })
    if limit.max_held is not None:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": limit.max_held,
                       "y1": limit.max_held, "line": {"color": MUTED, "width": 1, "dash": "dot"}})
    layout = _layout(xaxis=_axis(title=TIME_AXIS, rangemode="tozero"),
                     yaxis=_axis(title="sessions", rangemode="tozero"), annotations=annotations, shapes=shapes)
    caption = "Each step opens more sessions and holds them; the red cross is the first step that failed."
    return Chart("concurrency", "Concurrency staircase", caption, {"data": data, "layout": layout}, height=340)


# --------------------------------------------------------------------------------------------------
# Errors


def errors_chart(samples: Sequence[Sample], buckets: Buckets) -> Chart | None:
    """Failed samples per window, stacked by error code."""
    failed = [s for s in samples if not s.ok]
    if not failed:
        return None
    x = buckets.starts()
    by_code = group_by(failed, lambda s: s.error or "unknown")
    data: list[dict[str, Any]] = []
    for i, (code, group) in enumerate(sorted(by_code.items(), key=lambda kv: -len(kv[1]))):
        ts = np.fromiter((s.ts for s in group), dtype=float, count=len(group))
        counts = bucket_reduce(buckets, ts, np.ones_like(ts), "count")
        metrics = sorted({describe(s.metric).title for s in group})
        label = error_label(code)
        data.append({"type": "bar", "name": f"{label} ({len(group):,})", "x": x, "y": counts.astype(int).tolist(),
                     "offset": 0, "width": buckets.width, "marker": {"color": PALETTE[(i + 3) % len(PALETTE)],
                                                                     "line": {"width": 0}},
                     "hovertemplate": f"<b>{label}</b>: %{{y}} in window from %{{x}} s<br>"
                                      f"{', '.join(metrics[:4])}<extra></extra>"})
    layout = _layout(barmode="stack", bargap=0, xaxis=_axis(title=TIME_AXIS, rangemode="tozero"),
                     yaxis=_axis(title=f"errors per {fmt.num(buckets.width)} s"))
    caption = f"Failed samples (ok=false) per {fmt.num(buckets.width)} s window, stacked by error code."
    return Chart("errors", "Errors by code over time", caption, {"data": data, "layout": layout}, height=320)


# --------------------------------------------------------------------------------------------------
# Compare


def compare_cdf(metric: str, base: Sequence[Sample], new: Sequence[Sample], unit: str) -> Chart | None:
    """Base and new CDFs of one latency metric on one log axis."""
    _, b = _ok_arrays(base)
    _, n = _ok_arrays(new)
    if b.size == 0 and n.size == 0:
        return None
    log = bool((b.size == 0 or b.min() > 0) and (n.size == 0 or n.min() > 0))
    data: list[dict[str, Any]] = []
    for label, vals, color, dash in (("base", b, MUTED, "dash"), ("new", n, PALETTE[0], "solid")):
        if vals.size:
            xs, ys = cdf(np.sort(vals))
            data.append({"type": "scatter", "mode": "lines", "name": f"{label} (n={vals.size:,})", "x": xs, "y": ys,
                         "line": {"color": color, "width": 2, "dash": dash, "shape": "hv"},
                         "hovertemplate": f"{label}: %{{y:.2f}}% <= %{{x:,.4~g}} {unit}<extra></extra>"})
    info = describe(metric, unit)
    both = np.concatenate([b, n])
    title = f"{info.title} ({unit})"
    layout = _layout(xaxis=_log_axis(float(both.min()), float(both.max()), title) if log else _axis(title=title),
                     yaxis=_axis(title="cumulative", range=[0, 101], tickvals=PCT_TICKS,
                                 ticktext=PCT_LABELS),
                     legend={"y": -0.28, "yanchor": "top"})
    return Chart(f"cmp-{_slug(metric)}", info.title, "Cumulative share of samples at or below a value.",
                 {"data": data, "layout": layout}, height=280)
