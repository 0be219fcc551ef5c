"""reports.charts and reports.series: figures are valid plotly, small, and absent when their data is."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest

from reports import charts
from reports.report import analyze, report_sections
from reports.runfile import Run, RunInfo, Sample, load_run
from reports.series import Buckets, bucket_percentiles, bucket_reduce, bucket_width, cdf, histogram
from tests.reports.synth import T0


@pytest.fixture(scope="module")
def sections(rich_run: Path) -> list:  # type: ignore[type-arg]
    return report_sections(analyze(load_run(rich_run)))


def test_every_section_present_for_a_rich_run(sections: list) -> None:  # type: ignore[type-arg]
    ids = [s.id for s in sections]
    assert ids == ["distributions", "timeline", "bandwidth", "fps", "concurrency", "errors"]


def test_figures_are_valid_plotly(sections: list) -> None:  # type: ignore[type-arg]
    for section in sections:
        for chart in section.charts:
            go.Figure(chart.figure)  # raises ValueError on any invalid property
            assert len(json.dumps(chart.figure)) < 60_000, chart.id


def test_distribution_marks_hdr_percentiles(rich_run: Path) -> None:
    a = analyze(load_run(rich_run))
    chart = charts.latency_distribution("speech.onset", a.by_metric["speech.onset"], a.stats["speech.onset"],
                                        list(a.by_profile))
    assert chart is not None
    layout = chart.figure["layout"]
    assert layout["xaxis"]["type"] == "log"
    assert [s["x0"] for s in layout["shapes"]] == [a.stats["speech.onset"].get(p) for p in ("p50", "p95", "p99")]
    names = [t["name"] for t in chart.figure["data"]]
    assert names == ["share of samples", "cumulative, no shaping", "cumulative, 4g", "cumulative, regular 3G"]


def test_signed_metric_uses_linear_axis(rich_run: Path) -> None:
    a = analyze(load_run(rich_run))
    chart = charts.latency_distribution("speech.duration_error", a.by_metric["speech.duration_error"],
                                        a.stats["speech.duration_error"])
    assert chart is not None and chart.figure["layout"]["xaxis"].get("type") != "log"


def test_sections_skip_cleanly_without_their_metrics() -> None:
    samples = [Sample("speech.onset", 500.0 + i, "ms", T0 + i) for i in range(30)]
    a = analyze(Run(Path("x.jsonl"), RunInfo(), samples))
    assert [s.id for s in report_sections(a)] == ["distributions", "timeline"]
    only_errors = [Sample("session.create", None, "ms", T0 + i, ok=False, error="10007") for i in range(5)]
    a = analyze(Run(Path("x.jsonl"), RunInfo(), only_errors))
    assert [s.id for s in report_sections(a)] == ["errors"]
    assert report_sections(analyze(Run(Path("x.jsonl"), RunInfo(), []))) == []


def test_bucket_width_is_round_and_bounded() -> None:
    assert bucket_width(60) == 1 and bucket_width(600) == 5 and bucket_width(3600) == 30
    b = Buckets.for_span(T0, T0 + 600)
    assert b.n <= 121 and b.centers()[0] == b.width / 2


def test_bucket_math() -> None:
    b = Buckets(0.0, 10.0, 3)
    ts = np.array([1.0, 2.0, 3.0, 15.0, 29.0, 99.0])
    values = np.array([5.0, 1.0, 3.0, 7.0, 2.0, 4.0])
    pct, counts = bucket_percentiles(b, ts, values, (50.0, 100.0))
    assert counts.tolist() == [3, 1, 2]  # 99 s is clipped into the last window
    assert pct[50.0].tolist() == [3.0, 7.0, 2.0] and pct[100.0].tolist() == [5.0, 7.0, 4.0]
    assert bucket_reduce(b, ts, values, "sum").tolist() == [9.0, 7.0, 6.0]
    assert bucket_reduce(b, ts, values, "max").tolist() == [5.0, 7.0, 4.0]
    empty = bucket_reduce(Buckets(0.0, 10.0, 2), np.array([1.0]), np.array([1.0]), "mean")
    assert empty[0] == 1.0 and np.isnan(empty[1])


def test_histogram_and_cdf_edges() -> None:
    edges, counts = histogram(np.array([5.0]), log=True)
    assert counts.sum() == 1 and edges[0] < 5.0 < edges[-1]
    edges, counts = histogram(np.array([-3.0, 0.0, 4.0]), log=False, bins=4)
    assert counts.sum() == 3
    xs, ys = cdf(np.sort(np.arange(1.0, 1001.0)))
    assert xs[0] == 1.0 and xs[-1] == 1000.0 and ys[-1] == 100.0
    assert all(a < b for a, b in itertools.pairwise(xs))  # type: ignore[operator]


def test_log_ticks_readable() -> None:
    assert charts.log_ticks(370, 1300) == [400, 500, 600, 800, 1000]
    assert charts.log_ticks(1, 100_000) == [1, 10, 100, 1000, 10_000, 100_000]
    assert charts.log_ticks(0, 10) == []
