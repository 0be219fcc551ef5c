"""Regression gates: k6-threshold-style expressions, parsed without eval.

Grammar (whitespace is free)::

    gate    := subject OP expr
    subject := METRIC [ "[" PROFILE "]" ] "." STAT     e.g. speech.onset.p95, speech.onset[regular 3G].p99
    OP      := "<" | "<=" | ">" | ">=" | "==" | "!="
    expr    := term (("+" | "-") term)*
    term    := factor (("*" | "/") factor)*
    factor  := NUMBER | "base" | "(" expr ")" | "-" factor

`base` is the same metric and stat (and profile) in the BASE run. A gate *fires* (the check fails) when the
comparison is true, like `--fail-on 'speech.onset.p95 > 1.2*base'`. A gate whose value cannot be computed
(no successful samples, metric missing) also fires, with "no data" as the reason, except for `count`,
`errors` and `error_rate`, which are 0 for a missing metric.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from reports import fmt
from reports.runfile import ReportError
from reports.stats import STAT_NAMES, MetricStats

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
#: Stats that have a natural value (zero) when the metric is absent.
ZERO_WHEN_ABSENT: frozenset[str] = frozenset({"count", "errors", "error_rate"})
#: Accepted spellings of stats besides STAT_NAMES.
STAT_ALIASES: dict[str, str] = {"p999": "p99.9", "p99_9": "p99.9", "median": "p50", "error": "errors"}

_SUBJECT = re.compile(
    r"^(?P<metric>[A-Za-z0-9_][A-Za-z0-9_.:/-]*?)(?:\[(?P<profile>[^\]]*)\])?"
    r"\.(?P<stat>p99\.9|p99_9|p999|p50|p90|p95|p99|max|min|mean|median|count|errors|error_rate|error)$"
)
_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<base>base\b)|(?P<op>[-+*/()]))")


class GateError(ReportError):
    """A gate expression that does not parse."""


# A tiny expression tree: numbers, `base`, and binary/unary arithmetic.
Expr = float | str | tuple[str, "Expr", "Expr"] | tuple[str, "Expr"]


class _Parser:
    """Recursive-descent parser of the right-hand side."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise GateError(f"unexpected {text[pos:].strip()[:12]!r} in {text.strip()!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise GateError(f"expression ends too early: {self.text.strip()!r}")
        self.i += 1
        return tok

    def parse(self) -> Expr:
        if not self.tokens:
            raise GateError("missing the value to compare with")
        expr = self.expr()
        if self.peek() is not None:
            raise GateError(f"unexpected {self.tokens[self.i][1]!r} in {self.text.strip()!r}")
        return expr

    def expr(self) -> Expr:
        left = self.term()
        while (tok := self.peek()) is not None and tok[1] in ("+", "-"):
            self.take()
            left = (tok[1], left, self.term())
        return left

    def term(self) -> Expr:
        left = self.factor()
        while (tok := self.peek()) is not None and tok[1] in ("*", "/"):
            self.take()
            left = (tok[1], left, self.factor())
        return left

    def factor(self) -> Expr:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "base":
            return "base"
        if text == "-":
            return ("neg", self.factor())
        if text == "(":
            inner = self.expr()
            if self.take()[1] != ")":
                raise GateError(f"missing ')' in {self.text.strip()!r}")
            return inner
        raise GateError(f"unexpected {text!r} in {self.text.strip()!r}")


def _uses_base(expr: Expr) -> bool:
    if expr == "base":
        return True
    if isinstance(expr, tuple):
        return any(_uses_base(e) for e in expr[1:])
    return False


def _eval(expr: Expr, base: float | None) -> float | None:
    if isinstance(expr, float):
        return expr
    if expr == "base":
        return base
    if isinstance(expr, tuple) and expr[0] == "neg" and len(expr) == 2:
        v = _eval(expr[1], base)
        return None if v is None else -v
    if isinstance(expr, tuple) and len(expr) == 3:
        a, b = _eval(expr[1], base), _eval(expr[2], base)
        if a is None or b is None:
            return None
        if expr[0] == "/":
            return a / b if b != 0 else (math.inf if a > 0 else -math.inf if a < 0 else math.nan)
        return {"+": a + b, "-": a - b, "*": a * b}[expr[0]]
    raise GateError(f"bad expression node {expr!r}")  # pragma: no cover


@dataclass(frozen=True)
class Gate:
    """One parsed `--fail-on` expression."""

    text: str
    metric: str
    stat: str
    op: str
    rhs: Expr
    profile: str | None = None

    @property
    def uses_base(self) -> bool:
        """True when the threshold refers to the BASE run."""
        return _uses_base(self.rhs)

    @property
    def subject(self) -> str:
        """`speech.onset.p95` or `speech.onset[regular 3G].p95`."""
        prof = f"[{self.profile}]" if self.profile is not None else ""
        return f"{self.metric}{prof}.{self.stat}"


def parse_gate(text: str) -> Gate:
    """Parse `"<metric>[<profile>].<stat> <op> <expr>"`; raises GateError with a readable message."""
    src = text.strip()
    if not src:
        raise GateError("empty gate expression")
    # The first comparison operator outside a [profile] qualifier splits subject and threshold.
    depth = 0
    split: tuple[int, str] | None = None
    for i, ch in enumerate(src):
        depth += ch == "["
        depth -= ch == "]"
        if depth == 0 and ch in "<>=!":
            op = src[i:i + 2] if src[i:i + 2] in OPS else src[i]
            if op not in OPS or src[i + len(op):i + len(op) + 1] in ("<", ">", "=", "!"):
                bad = src[i:].split(" ", 1)[0].rstrip("0123456789.()-+*/ base")
                raise GateError(f"unknown operator {bad or src[i]!r} in {src!r} (use < <= > >= == !=)")
            split = (i, op)
            break
    if split is None:
        raise GateError(f"no comparison operator in {src!r} (expected e.g. 'speech.onset.p95 > 1.2*base')")
    i, op = split
    subject, rest = src[:i].strip(), src[i + len(op):]
    m = _SUBJECT.match(subject)
    if m is None:
        raise GateError(
            f"cannot read {subject!r}: expected <metric>.<stat> with stat one of {', '.join(STAT_NAMES)}"
        )
    stat = STAT_ALIASES.get(m.group("stat"), m.group("stat"))
    profile = m.group("profile")
    return Gate(src, m.group("metric"), stat, op, _Parser(rest).parse(),
                profile.strip() if profile is not None else None)


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate."""

    gate: Gate
    fired: bool
    value: float | None
    threshold: float | None
    base_value: float | None
    reason: str

    def line(self) -> str:
        """One line for CI logs."""
        status = "FAIL" if self.fired else "ok  "
        return f"{status} {self.gate.text}: {self.reason}"


def stat_value(stats: Mapping[str, MetricStats], metric: str, stat: str) -> float | None:
    """A stat of a metric, 0 for count/errors/error_rate of a missing metric, None when undefined."""
    st = stats.get(metric)
    if st is None:
        return 0.0 if stat in ZERO_WHEN_ABSENT else None
    return st.get(stat)


def evaluate(gate: Gate, new: Mapping[str, MetricStats], base: Mapping[str, MetricStats] | None) -> GateResult:
    """Evaluate `gate` on NEW stats (and BASE stats when it refers to `base`)."""
    value = stat_value(new, gate.metric, gate.stat)
    base_value = stat_value(base, gate.metric, gate.stat) if base is not None else None
    if gate.uses_base and base is None:
        raise GateError(f"{gate.text!r} refers to base, which needs `avatar-report compare BASE NEW`")
    if value is None:
        return GateResult(gate, True, None, None, base_value, f"no data for {gate.subject} in the new run")
    threshold = _eval(gate.rhs, base_value)
    if threshold is None:
        return GateResult(gate, True, value, None, None, f"no data for {gate.subject} in the base run")
    if math.isnan(threshold):
        return GateResult(gate, True, value, None, base_value, "threshold is undefined (0/0)")
    fired = OPS[gate.op](value, threshold)
    base_txt = f" (base {fmt.num(base_value)})" if gate.uses_base else ""
    verb = "fires" if fired else "holds"
    neg = "" if fired else "not "
    reason = f"{gate.subject} = {fmt.num(value)} is {neg}{gate.op} {fmt.num(threshold)}{base_txt}: gate {verb}"
    return GateResult(gate, fired, value, threshold, base_value, reason)


def stats_for(gate: Gate, overall: Mapping[str, MetricStats],
              by_profile: Mapping[str, Mapping[str, MetricStats]],
              profiles: Sequence[str] = ()) -> Mapping[str, MetricStats]:
    """The stats a gate reads: overall, or one network profile's (empty when the run lacks that profile).

    `profiles` are the run's profile labels; a single-profile run has no `by_profile` split, so its
    overall stats answer for its one profile.
    """
    if gate.profile is None:
        return overall
    wanted = gate.profile.casefold()
    for label, stats in by_profile.items():
        if label.casefold() == wanted:
            return stats
    if not by_profile and len(profiles) == 1 and profiles[0].casefold() == wanted:
        return overall
    return {}
