"""reports.stats: HDR percentiles agree with numpy on the raw values, within HDR precision."""

from __future__ import annotations

import numpy as np
import pytest

from reports.runfile import Sample
from reports.stats import (
    PERCENTILES,
    SIGNIFICANT_DIGITS,
    ValueHistogram,
    compute_stats,
    compute_stats_by_profile,
    nearest_rank,
    summarize,
)
from tests.reports.synth import T0, sample

#: HDR sub-buckets at 3 significant digits are 1/1024 wide; values are scaled to 0.001 units.
REL = 2.0 ** -(SIGNIFICANT_DIGITS * 10 // 3)
ABS = 1e-3


def close(a: float, b: float) -> bool:
    """Equal within HDR precision."""
    return abs(a - b) <= abs(b) * REL + ABS


def _s(value: float | None, ok: bool = True, error: str | None = None, profile: str | None = None) -> Sample:
    d = sample("m", value, "ms", T0, ok=ok, error=error, network_profile=profile)
    return Sample(d["metric"], d["value"], d["unit"], d["ts"], d["ok"], d["error"],
                  network_profile=d["network_profile"])


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(1).lognormal(6.5, 0.8, 20_011),  # latencies, long tail
        np.random.default_rng(2).normal(-10, 60, 3_001),  # signed (speech.duration_error)
        np.random.default_rng(3).uniform(0, 1, 997),  # sub-unit values
        np.array([812.5]),
        np.array([0.0, 0.0, 5.0]),
        np.array([3e9, 1.0]),  # beyond a day in ms, still in range
    ],
    ids=["lognormal", "signed", "subunit", "single", "zeros", "huge"],
)
def test_percentiles_match_numpy(values: np.ndarray) -> None:
    h = ValueHistogram()
    h.record_all(values.tolist())
    for _, p in PERCENTILES:
        got = h.value_at_percentile(p)
        want = float(np.percentile(values, p, method="inverted_cdf"))
        assert got is not None and close(got, want), (p, got, want)
    assert h.count == values.size and h.min == values.min() and h.max == values.max()
    assert h.mean == pytest.approx(values.mean())


def test_large_sample_close_to_linear_interpolation_too() -> None:
    values = np.random.default_rng(5).lognormal(6, 0.5, 50_000)
    h = ValueHistogram()
    h.record_all(values.tolist())
    for _, p in PERCENTILES:
        assert h.value_at_percentile(p) == pytest.approx(np.percentile(values, p), rel=5e-3)


def test_empty_histogram() -> None:
    h = ValueHistogram()
    assert h.value_at_percentile(50) is None and h.mean is None


@pytest.mark.parametrize(("p", "n", "rank"), [(50, 1, 1), (50, 4, 2), (95, 20, 19), (99.9, 1000, 999),
                                              (99.9, 10, 10), (0, 5, 1), (100, 5, 5)])
def test_nearest_rank(p: float, n: int, rank: int) -> None:
    assert nearest_rank(p, n) == rank


def test_summarize_counts_errors_separately() -> None:
    samples = [_s(100.0), _s(200.0), _s(None, ok=False, error="10007"), _s(None, ok=False, error="10007"),
               _s(None, ok=False, error="Timeout")]
    st = summarize("m", samples)
    assert (st.count, st.errors, st.attempts) == (2, 3, 5)
    assert st.error_codes == {"10007": 2, "Timeout": 1}
    assert st.error_rate == pytest.approx(0.6)
    assert close(st.get("p50") or 0, 100.0) and st.get("max") == 200.0
    assert st.get("count") == 2 and st.get("errors") == 3 and st.get("mean") == 150.0


def test_error_only_metric_has_no_percentiles() -> None:
    st = summarize("m", [_s(None, ok=False, error="10007")] * 4)
    assert st.count == 0 and st.errors == 4 and st.percentiles == {}
    assert st.get("p95") is None and st.get("max") is None and st.get("errors") == 4


def test_unknown_stat_raises() -> None:
    with pytest.raises(KeyError):
        summarize("m", [_s(1.0)]).get("p42")


def test_by_profile_only_when_several() -> None:
    assert compute_stats_by_profile([_s(1.0), _s(2.0)]) == {}
    split = compute_stats_by_profile([_s(1.0), _s(2.0, profile="regular 3G"), _s(3.0, profile="regular 3G")])
    assert set(split) == {"no shaping", "regular 3G"}
    assert split["regular 3G"]["m"].count == 2


def test_compute_stats_orders_by_catalog() -> None:
    samples = [Sample(m, 1.0, "ms", T0) for m in ("zzz.custom", "rest.streaming.new", "speech.onset",
                                                  "session.create")]
    assert list(compute_stats(samples)) == ["session.create", "speech.onset", "rest.streaming.new", "zzz.custom"]


def test_vectorised_recording_equals_hdrh_record_value() -> None:
    """record_all reimplements hdrh's bucket index with numpy; it must fill exactly the same counters."""
    rng = np.random.default_rng(11)
    data = np.concatenate([rng.lognormal(6, 1.5, 5000), rng.normal(0, 100, 2000), [0.0, 4e-4, 5e-4, 2.5, 1e11]])
    one_by_one, vectorised = ValueHistogram(), ValueHistogram()
    for v in data:
        one_by_one.record(float(v))
    vectorised.record_all(data)
    for side in ("_pos", "_neg"):
        a, b = getattr(one_by_one, side).hist, getattr(vectorised, side).hist
        assert np.array_equal(np.ctypeslib.as_array(a.counts), np.ctypeslib.as_array(b.counts))
        assert a.total_count == b.total_count
    assert (one_by_one.clamped, one_by_one.min, one_by_one.max) == (vectorised.clamped, vectorised.min,
                                                                    vectorised.max) == (1, data.min(), data.max())
