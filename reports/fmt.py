"""Number, duration and time formatting shared by templates, the CLI and the index."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def num(value: float | None, digits: int = 3) -> str:
    """A number at about `digits` significant digits (HDR precision), with thousands separators.

    >>> num(812.54), num(12.345), num(0.01234), num(123456.7), num(None)
    ('813', '12.3', '0.0123', '123,457', '-')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def value(v: float | None, unit: str) -> str:
    """A number with its unit: `812 ms`, `1,020 kbps`, `3.2 %`."""
    if v is None:
        return "-"
    if unit == "percent":
        return f"{num(v)} %"
    return f"{num(v)} {unit}".strip()


def pct(fraction: float | None, signed: bool = False) -> str:
    """0.0123 -> `1.23%` (`+1.23%` when signed)."""
    if fraction is None or not math.isfinite(fraction):
        return "-"
    text = num(abs(fraction) * 100, 3) + "%"
    if signed:
        return ("-" if fraction < 0 else "+") + text
    return ("-" if fraction < 0 else "") + text


def duration(seconds: float | None) -> str:
    """90 -> `1 min 30 s`; 3725 -> `1 h 2 min`."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{num(seconds, 2)} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        m, sec = divmod(s, 60)
        return f"{m} min {sec} s" if sec else f"{m} min"
    h, rest = divmod(s, 3600)
    return f"{h} h {rest // 60} min"


def timestamp(ts: float | None) -> str:
    """Unix seconds -> `2026-11-30 08:15:00 UTC`."""
    if ts is None or not math.isfinite(ts):
        return "-"
    try:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "-"
