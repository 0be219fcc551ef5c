"""Percentiles from raw samples with HDR histograms.

Every successful sample of a metric is recorded into an HDR histogram with `SIGNIFICANT_DIGITS`
significant digits, after scaling by `SCALE` so fractional units (0.25 ms, 0.5 fps) keep their
precision. Percentiles use the nearest-rank definition (the smallest recorded value with at least p% of
samples at or below it, numpy's `method="inverted_cdf"`), reported as the upper end of the HDR bucket
and clamped to the exact min/max. Negative values (e.g. `speech.duration_error`) go to a mirrored
histogram. Count, min, max and mean are exact.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from hdrh.histogram import HdrHistogram

from reports.metrics import sort_key
from reports.runfile import Sample

#: Precision of every percentile: relative error below 10**-3 (HDR sub-buckets of 1/1024).
SIGNIFICANT_DIGITS = 3
#: Values are recorded in thousandths of their unit (0.001 ms resolution for small values).
SCALE = 1000
#: Largest recordable magnitude, in scaled units (10**10 of the metric's unit); larger values are clamped.
HIGHEST = 10**13

#: (stat name, percentile) pairs, in display order.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)
#: Every stat name a gate or a table may ask for.
STAT_NAMES: tuple[str, ...] = (
    *(name for name, _ in PERCENTILES), "max", "min", "mean", "count", "errors", "error_rate",
)

K = TypeVar("K", bound=Hashable)


def nearest_rank(percentile: float, n: int) -> int:
    """1-based rank of the `percentile` in `n` sorted values (nearest-rank definition)."""
    exact = percentile * n / 100.0
    rank = math.ceil(round(exact, 9))
    return min(max(rank, 1), n)


class _Side:
    """One HDR histogram of non-negative scaled magnitudes with a cached cumulative count."""

    def __init__(self) -> None:
        self.hist = HdrHistogram(1, HIGHEST, SIGNIFICANT_DIGITS)
        self.n = 0
        self._cum: np.ndarray | None = None

    def record(self, scaled: int) -> None:
        self.hist.record_value(scaled)
        self.n += 1
        self._cum = None

    def record_many(self, scaled: np.ndarray) -> None:
        """Record many int64 values at once: hdrh's own index formula, vectorised with numpy."""
        if scaled.size == 0:
            return
        h = self.hist
        # bit length of (value | sub_bucket_mask) == 64 - clz(...); frexp is exact below 2**53 (HIGHEST < 2**44)
        bit_length = np.frexp((scaled | h.sub_bucket_mask).astype(np.float64))[1].astype(np.int64)
        bucket = bit_length - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
        sub_bucket = scaled >> (bucket + h.unit_magnitude)
        index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + (sub_bucket - h.sub_bucket_half_count)
        counts = np.ctypeslib.as_array(h.counts)
        counts += np.bincount(index, minlength=h.counts_len).astype(counts.dtype)
        h.total_count += int(scaled.size)
        h.min_value = min(h.min_value, int(scaled.min()))
        h.max_value = max(h.max_value, int(scaled.max()))
        self.n += int(scaled.size)
        self._cum = None

    def bucket_at_rank(self, rank: int) -> tuple[int, int]:
        """(lowest, highest) equivalent scaled value of the bucket holding the `rank`-th smallest value."""
        if self._cum is None:
            self._cum = np.cumsum(np.ctypeslib.as_array(self.hist.counts))
        index = int(np.searchsorted(self._cum, rank, side="left"))
        value = self.hist.get_value_from_index(index)
        return self.hist.get_lowest_equivalent_value(value), self.hist.get_highest_equivalent_value(value)


class ValueHistogram:
    """An HDR histogram of float values of either sign."""

    def __init__(self) -> None:
        self._pos = _Side()
        self._neg = _Side()
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        #: Values beyond +-HIGHEST/SCALE, recorded at the limit.
        self.clamped = 0

    def record(self, value: float) -> None:
        """Add one value."""
        scaled = round(abs(value) * SCALE)
        if scaled > HIGHEST:
            scaled = HIGHEST
            self.clamped += 1
        (self._neg if value < 0 else self._pos).record(scaled)
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def record_all(self, values: Iterable[float] | np.ndarray) -> None:
        """Add many values (vectorised; same result as calling `record` for each)."""
        arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
        if arr.size == 0:
            return
        scaled = np.rint(np.abs(arr) * SCALE)
        over = scaled > HIGHEST
        self.clamped += int(over.sum())
        scaled = np.where(over, HIGHEST, scaled).astype(np.int64)
        negative = arr < 0
        self._neg.record_many(scaled[negative])
        self._pos.record_many(scaled[~negative])
        self.count += int(arr.size)
        self.total += float(arr.sum())
        self.min = min(self.min, float(arr.min()))
        self.max = max(self.max, float(arr.max()))

    def value_at_percentile(self, percentile: float) -> float | None:
        """Nearest-rank percentile (upper end of its HDR bucket, clamped to the exact range); None if empty."""
        if self.count == 0:
            return None
        rank = nearest_rank(percentile, self.count)
        n_neg = self._neg.n
        if rank <= n_neg:
            low, _ = self._neg.bucket_at_rank(n_neg - rank + 1)
            value = -low / SCALE
        else:
            _, high = self._pos.bucket_at_rank(rank - n_neg)
            value = high / SCALE
        return min(max(value, self.min), self.max)

    @property
    def mean(self) -> float | None:
        """Exact arithmetic mean, None if empty."""
        return self.total / self.count if self.count else None


@dataclass(frozen=True)
class MetricStats:
    """The summary of one metric (optionally within one group such as a network profile)."""

    metric: str
    unit: str
    count: int
    errors: int
    percentiles: dict[str, float] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    error_codes: dict[str, int] = field(default_factory=dict)
    clamped: int = 0

    @property
    def attempts(self) -> int:
        """Successful plus failed samples."""
        return self.count + self.errors

    @property
    def error_rate(self) -> float:
        """Failed / all samples (0 when there are none)."""
        return self.errors / self.attempts if self.attempts else 0.0

    def get(self, stat: str) -> float | None:
        """A stat by name (see STAT_NAMES); None when undefined, e.g. percentiles without ok samples."""
        if stat in self.percentiles:
            return self.percentiles[stat]
        simple: dict[str, float | None] = {
            "max": self.max,
            "min": self.min,
            "mean": self.mean,
            "count": float(self.count),
            "errors": float(self.errors),
            "error_rate": self.error_rate,
        }
        if stat not in simple and stat not in STAT_NAMES:
            raise KeyError(stat)
        return simple.get(stat)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (embedded in reports, cached for the index)."""
        return {
            "metric": self.metric,
            "unit": self.unit,
            "count": self.count,
            "errors": self.errors,
            **self.percentiles,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "error_codes": self.error_codes,
        }


def summarize(metric: str, samples: Sequence[Sample]) -> MetricStats:
    """Stats of one metric's samples: percentiles over ok samples, errors counted by code."""
    hist = ValueHistogram()
    codes: Counter[str] = Counter()
    units: Counter[str] = Counter(s.unit for s in samples)
    values: list[float] = []
    for s in samples:
        if s.ok and s.value is not None:
            values.append(s.value)
        else:
            codes[s.error or "unknown"] += 1
    hist.record_all(np.asarray(values, dtype=np.float64))
    pct: dict[str, float] = {}
    for name, p in PERCENTILES:
        value = hist.value_at_percentile(p)
        if value is not None:
            pct[name] = value
    return MetricStats(
        metric=metric,
        unit=units.most_common(1)[0][0] if units else "",
        count=hist.count,
        errors=sum(codes.values()),
        percentiles=pct,
        min=hist.min if hist.count else None,
        max=hist.max if hist.count else None,
        mean=hist.mean,
        error_codes=dict(codes.most_common()),
        clamped=hist.clamped,
    )


def group_by(samples: Iterable[Sample], key: Callable[[Sample], K]) -> dict[K, list[Sample]]:
    """Split samples by `key`, keeping first-seen order of the keys."""
    groups: dict[K, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[key(s)].append(s)
    return dict(groups)


def compute_stats(samples: Iterable[Sample]) -> dict[str, MetricStats]:
    """Stats for every metric present, in catalog order."""
    by_metric = group_by(samples, lambda s: s.metric)
    return {m: summarize(m, by_metric[m]) for m in sorted(by_metric, key=sort_key)}


def profile_label(profile: str | None) -> str:
    """Display name of a network profile (None means no shaping)."""
    return profile if profile else "no shaping"


def compute_stats_by_profile(samples: Sequence[Sample]) -> dict[str, dict[str, MetricStats]]:
    """Stats per network profile label; empty when the run has fewer than two profiles."""
    groups = group_by(samples, lambda s: profile_label(s.network_profile))
    if len(groups) < 2:
        return {}
    return {label: compute_stats(group) for label, group in groups.items()}
