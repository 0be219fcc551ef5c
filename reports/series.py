"""Downsampling for charts: time buckets, histogram bins and CDF points (numbers only, no plotting).

Charts never embed raw samples: time series are reduced to at most `MAX_BUCKETS` windows, distributions
to `HIST_BINS` bins and `CDF_LEVELS` points, so a report's size does not grow with the run's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_BUCKETS = 120
HIST_BINS = 48
#: Percentile levels of the CDF curve: dense in the tail.
CDF_LEVELS: tuple[float, ...] = tuple(
    sorted(
        {0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5}
        | {float(p) for p in range(10, 91, 5)}
        | {91.0, 92.0, 93.0, 94.0, 95.0, 96.0, 97.0, 97.5, 98.0, 98.5, 99.0}
        | {99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 100.0}
    )
)
_NICE_WIDTHS: tuple[float, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def round_sig(x: float, digits: int = 4) -> float:
    """Round to `digits` significant digits (keeps embedded JSON short)."""
    if x == 0 or not math.isfinite(x):
        return 0.0 if not math.isfinite(x) else x
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def round_list(values: Sequence[float] | np.ndarray, digits: int = 4) -> list[float | None]:
    """`round_sig` over a sequence; NaN becomes None (a gap in plotly)."""
    return [None if not math.isfinite(float(v)) else round_sig(float(v), digits) for v in values]


def bucket_width(span_s: float, max_buckets: int = MAX_BUCKETS) -> float:
    """A round window length (1 s, 2 s, 5 s, ... 1 day) giving at most `max_buckets` windows."""
    for w in _NICE_WIDTHS:
        if span_s / w <= max_buckets:
            return w
    return math.ceil(span_s / max_buckets)


@dataclass(frozen=True)
class Buckets:
    """A time axis of fixed-width windows starting at `t0`."""

    t0: float
    width: float
    n: int

    @classmethod
    def for_span(cls, t0: float, t_end: float, max_buckets: int = MAX_BUCKETS) -> Buckets:
        """Windows covering [t0, t_end]."""
        span = max(t_end - t0, 1e-9)
        width = bucket_width(span, max_buckets)
        return cls(t0, width, max(1, math.floor(span / width) + 1))

    def index(self, ts: np.ndarray) -> np.ndarray:
        """Window index of each timestamp (clipped into range)."""
        return np.clip(((ts - self.t0) // self.width).astype(np.int64), 0, self.n - 1)

    def centers(self) -> list[float]:
        """Window mid-points in seconds since t0."""
        return [round_sig((i + 0.5) * self.width, 6) for i in range(self.n)]

    def starts(self) -> list[float]:
        """Window starts in seconds since t0."""
        return [round_sig(i * self.width, 6) for i in range(self.n)]


def bucket_percentiles(buckets: Buckets, ts: np.ndarray, values: np.ndarray,
                       percentiles: Sequence[float]) -> tuple[dict[float, np.ndarray], np.ndarray]:
    """Per-window percentiles (NaN for empty windows) and per-window counts."""
    idx = buckets.index(ts)
    order = np.lexsort((values, idx))
    idx_sorted, val_sorted = idx[order], values[order]
    counts = np.bincount(idx_sorted, minlength=buckets.n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = {p: np.full(buckets.n, np.nan) for p in percentiles}
    nonzero = counts > 0
    for p in percentiles:
        rank = np.clip(np.ceil(p / 100.0 * counts - 1e-9).astype(np.int64), 1, None) - 1
        pos = starts + rank
        out[p][nonzero] = val_sorted[pos[nonzero]]
    return out, counts


def bucket_reduce(buckets: Buckets, ts: np.ndarray, values: np.ndarray, how: str) -> np.ndarray:
    """Per-window `sum`, `max`, `mean` or `count` (NaN for empty windows except sum/count = 0)."""
    idx = buckets.index(ts)
    counts = np.bincount(idx, minlength=buckets.n).astype(float)
    if how == "count":
        return counts
    sums = np.bincount(idx, weights=values, minlength=buckets.n)
    if how == "sum":
        return sums
    if how == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if how == "max":
        out = np.full(buckets.n, -np.inf)
        np.maximum.at(out, idx, values)
        return np.where(counts > 0, out, np.nan)
    raise ValueError(f"unknown reduction {how!r}")


def histogram(values: np.ndarray, log: bool, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(edges, counts) of `values`; log-spaced edges when `log` (all values must be > 0)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:  # a single distinct value: one narrow bin around it
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
        if log:
            lo = max(lo, hi / 1.2)
        bins = 1
    edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)
    counts, edges = np.histogram(values, bins=edges)
    return edges, counts


def cdf(sorted_values: np.ndarray) -> tuple[list[float | None], list[float]]:
    """(values, percent <= value) at CDF_LEVELS, nearest-rank, for already sorted values."""
    n = len(sorted_values)
    xs: list[float] = []
    ys: list[float] = []
    for level in CDF_LEVELS:
        rank = min(n, max(1, math.ceil(level / 100.0 * n - 1e-9)))
        x = float(sorted_values[rank - 1])
        y = 100.0 * rank / n
        if xs and x == xs[-1]:
            ys[-1] = y
            continue
        xs.append(x)
        ys.append(round_sig(y, 6))
    return round_list(xs, 5), ys
