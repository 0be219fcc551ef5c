"""reports.gates: parsing k6-style expressions safely and evaluating them."""

from __future__ import annotations

import pytest

from reports.gates import GateError, evaluate, parse_gate, stats_for
from reports.runfile import Sample
from reports.stats import MetricStats, compute_stats
from tests.reports.synth import T0


def _stats(metric: str, values: list[float], errors: int = 0) -> dict[str, MetricStats]:
    samples = [Sample(metric, v, "ms", T0) for v in values]
    samples += [Sample(metric, None, "ms", T0, ok=False, error="10007") for _ in range(errors)]
    return compute_stats(samples)


@pytest.mark.parametrize(
    ("text", "metric", "stat", "op", "profile"),
    [
        ("speech.onset.p95 > 1.2*base", "speech.onset", "p95", ">", None),
        ("rest.streaming.new.p99 > 500", "rest.streaming.new", "p99", ">", None),
        ("session.create.errors > 0", "session.create", "errors", ">", None),
        ("speech.onset.p99.9>=base+50", "speech.onset", "p99.9", ">=", None),
        ("speech.onset.p999 <= 3e3", "speech.onset", "p99.9", "<=", None),
        ("  media.fps.p50 < 0.9 * base  ", "media.fps", "p50", "<", None),
        ("speech.onset[regular 3G].p95 > 1500", "speech.onset", "p95", ">", "regular 3G"),
        ("x.mean == 1", "x", "mean", "==", None),
        ("x.error_rate != 0", "x", "error_rate", "!=", None),
    ],
)
def test_parse(text: str, metric: str, stat: str, op: str, profile: str | None) -> None:
    g = parse_gate(text)
    assert (g.metric, g.stat, g.op, g.profile) == (metric, stat, op, profile)


@pytest.mark.parametrize(
    "text",
    [
        "", "speech.onset.p95", "speech.onset.p97 > 1", "speech.onset > 1", "speech.onset.p95 >> 1",
        "speech.onset.p95 => 1", "speech.onset.p95 > ", "speech.onset.p95 > base base", "speech.onset.p95 > (1",
        "speech.onset.p95 > __import__('os').system('true')", "speech.onset.p95 > 1; rm -rf /",
        "speech.onset.p95 > basement", "speech.onset.p95 > 1 +", "speech.onset.p95 > ()",
    ],
)
def test_bad_syntax_raises(text: str) -> None:
    with pytest.raises(GateError):
        parse_gate(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("a.p50 > 2*base+1", 21.0), ("a.p50 > (base - 4) / 2", 3.0), ("a.p50 > -base * -1", 10.0),
     ("a.p50 > base/4*2", 5.0), ("a.p50 > 1.5e1", 15.0), ("a.p50 > .5", 0.5)],
)
def test_arithmetic(text: str, value: float) -> None:
    base = _stats("a", [10.0])
    result = evaluate(parse_gate(text), _stats("a", [10.0]), base)
    assert result.threshold == pytest.approx(value)


def test_fires_when_true() -> None:
    base = _stats("speech.onset", [800.0] * 10)
    fast, slow = _stats("speech.onset", [850.0] * 10), _stats("speech.onset", [1000.0] * 10)
    gate = parse_gate("speech.onset.p95 > 1.2*base")
    assert not evaluate(gate, fast, base).fired
    res = evaluate(gate, slow, base)
    assert res.fired and res.value == pytest.approx(1000, rel=1e-3) and "fires" in res.line()
    assert res.line().startswith("FAIL")


def test_missing_data() -> None:
    empty: dict[str, MetricStats] = {}
    # count/errors of an absent metric are 0: "no errors" holds.
    assert not evaluate(parse_gate("session.create.errors > 0"), empty, None).fired
    # a percentile with no data cannot pass
    res = evaluate(parse_gate("session.create.p95 > 100"), empty, None)
    assert res.fired and "no data" in res.reason
    res = evaluate(parse_gate("session.create.p95 > 1.1*base"), _stats("session.create", [1.0]), empty)
    assert res.fired and "base run" in res.reason
    errors_only = _stats("session.create", [], errors=3)
    assert evaluate(parse_gate("session.create.errors > 0"), errors_only, None).fired
    assert evaluate(parse_gate("session.create.p95 < 1e9"), errors_only, None).fired  # no data


def test_base_without_base_run_raises() -> None:
    with pytest.raises(GateError):
        evaluate(parse_gate("a.p95 > base"), _stats("a", [1.0]), None)


def test_divide_by_zero_base() -> None:
    res = evaluate(parse_gate("a.errors > 1 / base"), _stats("a", [1.0], errors=1), _stats("a", [1.0]))
    assert res.threshold == float("inf") and not res.fired


def test_profile_qualified_stats() -> None:
    overall = _stats("a", [1.0])
    regular = _stats("a", [100.0])
    by_profile = {"no shaping": overall, "regular 3G": regular}
    gate = parse_gate("a[Regular 3G].p95 > 50")
    assert stats_for(gate, overall, by_profile) is regular  # profile names match case-insensitively
    assert stats_for(parse_gate("a[5g].p95 > 50"), overall, by_profile) == {}
    assert stats_for(gate, overall, {}, ["regular 3G"]) is overall  # single-profile run
    assert stats_for(gate, overall, {}, ["4g"]) == {}


def test_documented_gates_parse() -> None:
    """Every gate example in docs/reports.md's table is valid syntax."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    examples = re.findall(r"^\| `([^`]+)` \| fires when", doc, re.M) + re.findall(r"^\| `([^`]+)` \|", doc, re.M)
    gates = {e for e in examples if any(op in e for op in "<>=")}
    assert len(gates) >= 6
    for text in gates:
        parse_gate(text)
