"""reports.report: the HTML shows the right numbers, stands alone, and survives bad runs."""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from reports import build_report
from reports.render import plotly_js
from reports.stats import PERCENTILES, SIGNIFICANT_DIGITS
from tests.reports.synth import T0, SynthSpec, run_line, sample, write_run, write_synthetic

REL = 2.0 ** -(SIGNIFICANT_DIGITS * 10 // 3)
_SPAN = re.compile(r'<span class="n[^"]*" data-metric="([^"]+)" data-stat="([^"]+)"'
                   r'(?: data-profile="([^"]+)")? data-value="([^"]+)"')


def html_numbers(text: str) -> dict[tuple[str, str, str | None], float]:
    """(metric, stat, profile) -> value of every number cell in a report."""
    return {(html.unescape(m), s, html.unescape(p) if p else None): float(v)
            for m, s, p, v in _SPAN.findall(text)}


def raw_values(path: Path) -> dict[tuple[str, str | None], list[float]]:
    """Independent of reports.runfile: successful values per (metric, profile) straight from the JSONL."""
    out: dict[tuple[str, str | None], list[float]] = defaultdict(list)
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        if obj.get("kind") == "sample" and obj.get("ok", True) and obj.get("value") is not None:
            out[(obj["metric"], None)].append(obj["value"])
            out[(obj["metric"], obj.get("network_profile") or "no shaping")].append(obj["value"])
    return out


@pytest.fixture(scope="module")
def rich_html(rich_run: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = build_report(rich_run, tmp_path_factory.mktemp("html") / "report.html")
    return out.read_text(encoding="utf-8")


def test_numbers_equal_numpy_percentiles(rich_run: Path, rich_html: str) -> None:
    shown = html_numbers(rich_html)
    raw = raw_values(rich_run)
    checked = 0
    for (metric, stat, profile), value in shown.items():
        values = np.array(raw[(metric, profile)])
        if stat == "count":
            assert value == values.size, metric
            continue
        if stat == "errors":
            continue
        want = float(values.max()) if stat == "max" else float(
            np.percentile(values, dict(PERCENTILES)[stat], method="inverted_cdf"))
        assert abs(value - want) <= abs(want) * REL + 1e-3, (metric, stat, profile, value, want)
        checked += 1
    assert checked > 200  # every metric x every percentile, overall and per profile
    metrics = {m for m, _, _ in shown}
    assert {"speech.onset", "session.first_frame", "media.bitrate", "rest.streaming.new"} <= metrics


def test_error_counts_in_html(rich_run: Path, rich_html: str) -> None:
    errors: dict[str, int] = defaultdict(int)
    for line in rich_run.read_text().splitlines():
        obj = json.loads(line)
        if obj.get("kind") == "sample" and obj.get("ok") is False:
            errors[obj["metric"]] += 1
    shown = html_numbers(rich_html)
    assert errors and all(shown[(m, "errors", None)] == n for m, n in errors.items())


def test_split_by_network_profile(rich_html: str) -> None:
    assert 'id="profiles"' in rich_html
    assert ("speech.onset", "p95", "regular 3G") in html_numbers(rich_html)


def test_self_contained(rich_html: str) -> None:
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)=["\']?(https?:)?//', rich_html)
    assert "cdn." not in rich_html.lower()
    assert rich_html.count('id="plotly-gz"') == 1  # plotly.js embedded exactly once
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                                rich_html, re.S).group(1))  # type: ignore[union-attr]
    assert data["stats"]["speech.onset"]["count"] > 0
    figures = json.loads(re.search(r'<script type="application/json" id="figures">(.*?)</script>',
                                   rich_html, re.S).group(1))  # type: ignore[union-attr]
    assert set(figures) == set(re.findall(r'data-figure="([^"]+)"', rich_html))


def test_method_of_measurement_one_click_away(rich_html: str) -> None:
    rows = re.findall(r'<details class="mrow" id="m-([^"]+)"', rich_html)
    assert "speech.onset" in rows and "rest.streaming.new" in rows
    block = rich_html.split('id="m-speech.onset"', 1)[1].split("</details>", 1)[0]
    assert "How it is measured." in block and "<code>streaming.task</code>" in block


def test_raw_plotly_mode(single_run: Path, tmp_path: Path) -> None:
    text = build_report(single_run, tmp_path / "r.html", plotlyjs="raw").read_text()
    assert text.count(plotly_js()[:200]) == 1 and 'id="plotly-gz"' not in text


def test_context_and_verdict(rich_html: str) -> None:
    assert 'data-verdict="' in rich_html
    for fact in ("Mock server", "http://127.0.0.1:8080", "2 cores", "latency_profile fast", "aiortc 1.16.0",
                 "regular 3G"):
        assert fact in rich_html


def test_no_secrets_in_html(tmp_path: Path) -> None:
    line = run_line(api_key="sk_live_abcdef0123456789", host="https://u:pw123@api.heygen.com?token=tok_abc")
    path = write_run(tmp_path / "r.jsonl", [line, sample("speech.onset", 1.0, "ms", T0)])
    text = build_report(path, tmp_path / "r.html").read_text()
    for secret in ("sk_live", "pw123", "tok_abc"):
        assert secret not in text


def test_default_output_and_summary_cache(tmp_path: Path) -> None:
    run = write_synthetic(tmp_path / "run1" / "samples.jsonl", SynthSpec(sessions=3, duration_s=12))
    out = build_report(run)
    assert out == run.parent / "report.html" and (run.parent / "summary.json").is_file()


@pytest.mark.parametrize("fixture", ["empty_run", "single_run", "error_only_run", "garbage_run"])
def test_awkward_runs_build(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run: Path = request.getfixturevalue(fixture)
    text = build_report(run, tmp_path / "r.html").read_text()
    assert "</html>" in text and "Traceback" not in text
    expected = {
        "empty_run": ["This run has no samples to report.", "The run file is empty.", 'data-verdict="NO DATA"'],
        "single_run": ["single sample", 'data-stat="p99.9" data-value="812.5"'],
        "error_only_run": ['data-verdict="FAIL"', "Every attempt failed", "No successful samples",
                           "10007 (concurrent session limit)"],
        "garbage_run": ["Skipped 9 malformed line(s)", 'data-stat="count" data-value="2"'],
    }[fixture]
    for snippet in expected:
        assert snippet in text, snippet


def test_size_stays_small_for_long_busy_runs(tmp_path: Path) -> None:
    """Chart data is downsampled: 10x more samples must not make the report meaningfully bigger."""
    small = write_synthetic(tmp_path / "s.jsonl", SynthSpec(sessions=4, duration_s=60, media_every_s=2))
    big = write_synthetic(tmp_path / "b.jsonl", SynthSpec(sessions=12, duration_s=180, media_every_s=1))
    small_size = build_report(small, tmp_path / "s.html").stat().st_size
    big_size = build_report(big, tmp_path / "b.html").stat().st_size
    assert big_size < 5_000_000
    assert big_size - small_size < 150_000
