"""Derived findings: bitrate against tier targets, the concurrency limit, headline numbers and the verdict."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from reports import fmt
from reports.metrics import describe, error_label
from reports.runfile import Run, Sample
from reports.stats import MetricStats, group_by

#: Bitrate p50 within +-BAND of the tier target is on target.
BAND = 0.10
#: Bitrate p50 further than this from target fails the run (between BAND and this: warn).
BITRATE_FAIL_DEVIATION = 0.25
#: Overall error rate (operations: session, speech, REST calls) above which the run warns / fails.
ERROR_RATE_WARN = 0.01
ERROR_RATE_FAIL = 0.05
#: A single metric failing more often than this fails the run even when the overall rate is low
#: (e.g. many speech tasks but a third of the session creates rejected).
METRIC_ERROR_RATE_FAIL = 0.20
#: Categories whose samples are user-visible operations (the overall error rate's denominator).
OPERATION_CATEGORIES: frozenset[str] = frozenset({"Session setup", "Speech", "REST API"})
#: Gauges and shape metrics: their ok=false samples are findings, not failed attempts.
NON_ATTEMPT_METRICS: frozenset[str] = frozenset({"sessions.live", "concurrency.step"})

Level = Literal["PASS", "WARN", "FAIL", "NO DATA"]
_RANK: dict[str, int] = {"PASS": 0, "NO DATA": 0, "WARN": 1, "FAIL": 2}


@dataclass(frozen=True)
class BitrateGroup:
    """Received bitrate of one tier/codec pair against its target."""

    tier: str
    codec: str
    target: float | None
    count: int
    p50: float | None
    p05: float | None
    p95: float | None
    in_band: float | None  # share of windows within +-BAND of their target
    status: Literal["ok", "warn", "fail", "no target", "no data"]

    @property
    def label(self) -> str:
        """`"low / VP8"`."""
        return f"{self.tier} / {self.codec}"

    @property
    def deviation(self) -> float | None:
        """p50 / target - 1."""
        if self.p50 is None or not self.target:
            return None
        return self.p50 / self.target - 1.0


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    idx = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.999999) - 1))
    return sorted_values[idx]


def bitrate_groups(samples: Sequence[Sample]) -> list[BitrateGroup]:
    """One entry per tier/codec of the `media.bitrate` samples (tier/codec None shown as "any")."""
    rows: list[BitrateGroup] = []
    bitrate = [s for s in samples if s.metric == "media.bitrate"]
    groups = group_by(bitrate, lambda s: (s.tier or "any", s.codec or "any"))
    for (tier, codec), group in sorted(groups.items()):
        ok = [s for s in group if s.ok and s.value is not None]
        values = sorted(s.value for s in ok if s.value is not None)
        targets = [s.target for s in group if s.target]
        target = statistics.median(targets) if targets else None
        if not values:
            rows.append(BitrateGroup(tier, codec, target, 0, None, None, None, None, "no data"))
            continue
        p50 = _quantile(values, 0.5)
        ratios = [s.value / s.target for s in ok if s.target and s.value is not None]
        in_band = sum(1 for r in ratios if abs(r - 1.0) <= BAND + 1e-9) / len(ratios) if ratios else None
        status: Literal["ok", "warn", "fail", "no target", "no data"]
        if not target:
            status = "no target"
        else:
            dev = abs(p50 / target - 1.0)
            status = "ok" if dev <= BAND + 1e-9 else "warn" if dev <= BITRATE_FAIL_DEVIATION else "fail"
        rows.append(
            BitrateGroup(
                tier, codec, target, len(values), p50, _quantile(values, 0.05), _quantile(values, 0.95),
                in_band, status,
            )
        )
    return rows


@dataclass(frozen=True)
class ConcurrencyLimit:
    """What the concurrency staircase found."""

    steps: int
    max_held: float | None
    limit_hit: bool
    failed_at: float | None = None  # ts of the first failed step
    failed_level: float | None = None  # sessions attempted at that step, when known
    error: str | None = None


def concurrency_limit(samples: Sequence[Sample]) -> ConcurrencyLimit | None:
    """The staircase summary, None when the run has no `concurrency.step` samples."""
    steps = sorted((s for s in samples if s.metric == "concurrency.step"), key=lambda s: s.ts)
    if not steps:
        return None
    held = [s.value for s in steps if s.ok and s.value is not None]
    max_held = max(held) if held else None
    failed = next((s for s in steps if not s.ok), None)
    if failed is None:
        return ConcurrencyLimit(len(steps), max_held, False)
    level = failed.value if failed.value is not None else failed.target
    return ConcurrencyLimit(len(steps), max_held, True, failed.ts, level, failed.error)


@dataclass(frozen=True)
class Finding:
    """One line of the verdict's explanation."""

    level: Level
    text: str


@dataclass(frozen=True)
class Verdict:
    """PASS / WARN / FAIL / NO DATA with its reasons."""

    level: Level
    findings: list[Finding] = field(default_factory=list)
    attempts: int = 0
    errors: int = 0

    @property
    def error_rate(self) -> float | None:
        """Failed / all attempts, None without attempts."""
        return self.errors / self.attempts if self.attempts else None

    @property
    def lead(self) -> str:
        """The most important finding as a sentence."""
        worst = [f.text for f in self.findings if f.level == self.level] or [f.text for f in self.findings]
        text = worst[0] if worst else self.level
        return text[:1].upper() + text[1:]

    @property
    def summary(self) -> str:
        """One line, e.g. `FAIL: error rate 7.2% (above 5%)`."""
        worst = [f.text for f in self.findings if f.level == self.level] or [f.text for f in self.findings]
        return f"{self.level}: {worst[0]}" if worst else self.level


def _pct(x: float) -> str:
    return fmt.pct(x)


def judge(run: Run, stats: Mapping[str, MetricStats], bitrate: Sequence[BitrateGroup]) -> Verdict:
    """The run's verdict from its error rate, bitrate against tier targets and how it ended."""
    if not run.samples:
        return Verdict("NO DATA", [Finding("NO DATA", "the run file has no valid samples")])
    counted = [m for m in stats if m not in NON_ATTEMPT_METRICS]
    # The overall rate is over what a user does (sessions, speech, REST calls): media windows and
    # load-generator internals would dilute it. Every metric still gets its own error-rate check below.
    operations = [m for m in counted if describe(m).category in OPERATION_CATEGORIES] or counted
    attempts = sum(stats[m].attempts for m in operations)
    errors = sum(stats[m].errors for m in operations)
    findings: list[Finding] = []
    if attempts == 0:
        findings.append(Finding("PASS", "no attempts measured (gauges only)"))
    elif errors == attempts:
        codes: dict[str, int] = {}
        for m in operations:
            for code, n in stats[m].error_codes.items():
                codes[code] = codes.get(code, 0) + n
        top = max(codes, key=lambda c: codes[c])
        findings.append(Finding("FAIL", f"every attempt failed ({errors:,} errors, mostly {error_label(top)})"))
    else:
        rate = errors / attempts
        level: Level = "FAIL" if rate > ERROR_RATE_FAIL else "WARN" if rate > ERROR_RATE_WARN else "PASS"
        limit = {"FAIL": f"above {_pct(ERROR_RATE_FAIL)}", "WARN": f"above {_pct(ERROR_RATE_WARN)}"}.get(level, "")
        detail = f"error rate {_pct(rate)} ({errors:,} of {attempts:,} operations failed)"
        findings.append(Finding(level, f"{detail}, {limit}" if limit else detail))
    if attempts and errors != attempts:
        worst = sorted(((stats[m].error_rate, m) for m in counted if stats[m].error_rate > ERROR_RATE_WARN),
                       reverse=True)
        for rate_m, m in worst[:4]:
            st = stats[m]
            findings.append(Finding(
                "FAIL" if rate_m > METRIC_ERROR_RATE_FAIL else "WARN",
                f"{describe(m).title}: {st.errors:,} of {st.attempts:,} failed ({_pct(rate_m)})",
            ))
    judged = [g for g in bitrate if g.status in ("ok", "warn", "fail")]
    if judged:
        off = [g for g in judged if g.status != "ok"]
        if not off:
            findings.append(Finding(
                "PASS", f"bitrate within ±{BAND:.0%} of target for all {len(judged)} tier/codec group(s)"
            ))
        for g in off:
            dev = g.deviation or 0.0
            findings.append(
                Finding(
                    "FAIL" if g.status == "fail" else "WARN",
                    f"bitrate {g.label}: p50 {g.p50:,.0f} kbps is {dev:+.0%} from its {g.target:,.0f} kbps target",
                )
            )
    if run.end is not None and run.end.exit_code not in (None, 0):
        findings.append(Finding("WARN", f"the load generator exited with code {run.end.exit_code}"))
    level_out: Level = max((f.level for f in findings), key=lambda lv: _RANK[lv], default="PASS")
    if level_out == "NO DATA":
        level_out = "PASS"
    findings.sort(key=lambda f: -_RANK[f.level])
    return Verdict(level_out, findings, attempts, errors)


@dataclass(frozen=True)
class Headline:
    """One number for the top of a report or a row of the index."""

    label: str
    value: float | None
    unit: str
    hint: str = ""
    key: str = ""


#: Metrics whose p95 is a headline, in order of preference.
HEADLINE_METRICS: tuple[str, ...] = (
    "session.first_frame",
    "session.create",
    "speech.onset",
    "speech.event",
    "interrupt.latency",
)


def headlines(stats: Mapping[str, MetricStats], verdict: Verdict, limit: ConcurrencyLimit | None,
              bitrate: Sequence[BitrateGroup]) -> list[Headline]:
    """A handful of numbers a newcomer should look at first."""
    out: list[Headline] = []
    if verdict.error_rate is not None:
        out.append(Headline("Error rate", verdict.error_rate * 100, "%", f"{verdict.errors:,} of "
                            f"{verdict.attempts:,} operations failed", "error_rate"))
    for m in HEADLINE_METRICS:
        s = stats.get(m)
        if s is not None and s.get("p95") is not None:
            out.append(Headline(f"{describe(m).title} p95", s.get("p95"), s.unit, f"p50 {fmt.num(s.get('p50'))} "
                                f"{s.unit}, n={s.count:,}", f"{m}.p95"))
        if len(out) >= 4:
            break
    shares = [g.in_band for g in bitrate if g.in_band is not None]
    if shares:
        out.append(Headline("Bitrate in band", statistics.mean(shares) * 100, "%",
                            f"windows within ±{BAND:.0%} of tier target", "bitrate_in_band"))
    if limit is not None:
        out.append(Headline("Concurrency held", limit.max_held, "sessions",
                            "limit hit" if limit.limit_hit else "no limit hit", "concurrency"))
    live = stats.get("sessions.live")
    if live is not None and live.max is not None:
        out.append(Headline("Peak live sessions", live.max, "sessions", "", "sessions.live.max"))
    return out[:6]
