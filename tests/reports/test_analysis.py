"""reports.analysis: verdict, bitrate against targets, the concurrency limit."""

from __future__ import annotations

from pathlib import Path

from reports.analysis import bitrate_groups, concurrency_limit, judge
from reports.runfile import Sample, load_run
from reports.stats import compute_stats
from tests.reports.synth import T0, run_line, sample, write_run


def _judge(path: Path):  # type: ignore[no-untyped-def]
    run = load_run(path)
    stats = compute_stats(run.samples)
    return judge(run, stats, bitrate_groups(run.samples))


def _bitrate(value: float, target: float = 1000.0, tier: str = "medium") -> dict[str, object]:
    return sample("media.bitrate", value, "kbps", T0 + 1, tier=tier, codec="VP8", target=target)


def test_pass(tmp_path: Path) -> None:
    lines = [run_line()] + [sample("session.create", 100.0 + i, "ms", T0 + i) for i in range(200)]
    lines += [_bitrate(1000 + (i % 7) * 10) for i in range(50)]
    v = _judge(write_run(tmp_path / "r.jsonl", lines))
    assert v.level == "PASS" and v.error_rate == 0.0
    assert any("bitrate within" in f.text for f in v.findings)


def test_warn_on_error_rate_and_fail_above_five_percent(tmp_path: Path) -> None:
    ok = [sample("speech.onset", 500.0, "ms", T0 + i) for i in range(97)]
    bad = [sample("speech.onset", None, "ms", T0, ok=False, error="Timeout") for _ in range(3)]
    assert _judge(write_run(tmp_path / "w.jsonl", [run_line(), *ok, *bad])).level == "WARN"
    bad = [sample("speech.onset", None, "ms", T0, ok=False, error="Timeout") for _ in range(10)]
    v = _judge(write_run(tmp_path / "f.jsonl", [run_line(), *ok, *bad]))
    assert v.level == "FAIL" and "above 5%" in v.lead


def test_one_metric_failing_a_lot_fails_the_run(tmp_path: Path) -> None:
    lines = [run_line()] + [sample("speech.onset", 500.0, "ms", T0 + i) for i in range(2000)]
    lines += [sample("session.create", 100.0, "ms", T0) for _ in range(6)]
    lines += [sample("session.create", None, "ms", T0, ok=False, error="10007") for _ in range(4)]
    v = _judge(write_run(tmp_path / "r.jsonl", lines))
    assert v.level == "FAIL" and "Session create: 4 of 10 failed" in v.lead


def test_error_only_run_fails(error_only_run: Path) -> None:
    v = _judge(error_only_run)
    assert v.level == "FAIL" and "Every attempt failed" in v.lead and "10007" in v.lead
    assert any("exited with code 1" in f.text for f in v.findings)


def test_empty_run_has_no_data(empty_run: Path) -> None:
    assert _judge(empty_run).level == "NO DATA"


def test_bitrate_off_target(tmp_path: Path) -> None:
    lines = [run_line(), *[_bitrate(850) for _ in range(20)], *[_bitrate(480, 500, "low") for _ in range(20)]]
    path = write_run(tmp_path / "r.jsonl", lines)
    groups = {g.label: g for g in bitrate_groups(load_run(path).samples)}
    assert groups["medium / VP8"].status == "warn" and groups["low / VP8"].status == "ok"
    assert groups["medium / VP8"].in_band == 0.0 and groups["low / VP8"].in_band == 1.0
    v = _judge(path)
    assert v.level == "WARN" and "-15%" in v.lead
    lines = [run_line(), *[_bitrate(600) for _ in range(20)]]
    assert _judge(write_run(tmp_path / "f.jsonl", lines)).level == "FAIL"


def test_gauges_do_not_count_as_failed_operations(tmp_path: Path) -> None:
    lines = [run_line(), *[sample("session.create", 100.0, "ms", T0) for _ in range(10)],
             sample("concurrency.step", 10, "count", T0 + 1),
             sample("concurrency.step", None, "count", T0 + 2, ok=False, error="10007", target=20)]
    assert _judge(write_run(tmp_path / "r.jsonl", lines)).level == "PASS"


def test_concurrency_limit() -> None:
    steps = [Sample("concurrency.step", float(v), "count", T0 + i) for i, v in enumerate((10, 20, 30))]
    steps.append(Sample("concurrency.step", None, "count", T0 + 5, ok=False, error="10007", target=40.0))
    steps.append(Sample("concurrency.step", None, "count", T0 + 9, ok=False, error="10007", target=50.0))
    limit = concurrency_limit(steps)
    assert limit is not None and limit.limit_hit and limit.max_held == 30
    assert limit.failed_level == 40 and limit.failed_at == T0 + 5 and limit.error == "10007"
    assert concurrency_limit([]) is None
    no_limit = concurrency_limit(steps[:3])
    assert no_limit is not None and not no_limit.limit_hit and no_limit.steps == 3
