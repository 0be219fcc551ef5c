"""Synthetic run files for the reports tests (and the docs screenshot): realistic shapes, seeded."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

T0 = 1_796_026_500.0
TIERS = {"low": 500.0, "medium": 1000.0, "high": 2000.0}
#: Extra speech-onset / setup latency (ms) per network profile.
PROFILE_PENALTY = {None: 0.0, "wifi": 15.0, "4g": 60.0, "regular 3G": 380.0}


@dataclass
class SynthSpec:
    """What to generate."""

    sessions: int = 12
    duration_s: float = 60.0
    media_every_s: float = 1.0
    speech_every_s: float = 6.0
    network_profiles: list[str | None] = field(default_factory=lambda: [None])
    tiers: list[str] = field(default_factory=lambda: ["low", "medium", "high"])
    codecs: list[str] = field(default_factory=lambda: ["VP8"])
    error_share: float = 0.01
    concurrency_limit: int | None = None
    staircase: bool = False
    seed: int = 7
    scenario: str = "speech"
    run_extra: dict[str, Any] = field(default_factory=dict)


def sample(metric: str, value: float | None, unit: str, ts: float, **kw: Any) -> dict[str, Any]:
    """One sample line as a dict."""
    line: dict[str, Any] = {"kind": "sample", "metric": metric, "value": value, "unit": unit, "ts": ts,
                            "session": None, "tier": None, "codec": None, "target": None, "ok": True,
                            "error": None, "scenario": "speech", "network_profile": None}
    line.update(kw)
    return line


def run_line(spec: SynthSpec | None = None, **extra: Any) -> dict[str, Any]:
    """The `kind: "run"` line."""
    spec = spec or SynthSpec()
    line: dict[str, Any] = {
        "kind": "run", "run_id": "20261130-081500-ab12", "started_at": T0, "target": "mock",
        "host": "http://127.0.0.1:8080", "scenario": spec.scenario, "users": spec.sessions,
        "duration_s": spec.duration_s,
        "versions": {"testkit": "0.1.0", "python": "3.11.7", "aiortc": "1.16.0", "locust": "2.47.0"},
        "mock": {"latency_profile": "fast", "tier_profile": "seed",
                 "concurrency_limit": spec.concurrency_limit or 100},
        "cores": 2, "network_profile": spec.network_profiles[0] if len(spec.network_profiles) == 1 else None,
        "notes": "",
    }
    line.update(spec.run_extra)
    line.update(extra)
    return line


def generate(spec: SynthSpec) -> list[dict[str, Any]]:
    """All lines of a run, sorted by time (run line first, run_end last)."""
    rng = random.Random(spec.seed)
    lines: list[dict[str, Any]] = []

    def ln(median: float, sigma: float = 0.35) -> float:
        return round(median * math.exp(rng.gauss(0, sigma)), 3)

    live_intervals: list[tuple[float, float]] = []
    ramp = min(spec.duration_s / 3, 30.0) / max(spec.sessions, 1)
    for i in range(spec.sessions):
        sid = f"{i:04x}c0ffee{rng.getrandbits(32):08x}"
        profile = spec.network_profiles[i % len(spec.network_profiles)]
        tier = spec.tiers[i % len(spec.tiers)]
        codec = spec.codecs[i % len(spec.codecs)]
        pen = PROFILE_PENALTY.get(profile, 100.0)
        common = {"session": sid, "network_profile": profile, "scenario": spec.scenario}
        start = T0 + 0.5 + i * ramp
        over_limit = spec.concurrency_limit is not None and i >= spec.concurrency_limit
        if over_limit or rng.random() < spec.error_share:
            code = "10007" if over_limit else rng.choice(["10007", "Timeout", "400140"])
            lines.append(sample("session.create", None, "ms", start + 0.2, ok=False, error=code, **common))
            lines.append(sample("rest.streaming.new", None, "ms", start + 0.2, ok=False, error=code, **common))
            continue
        create = ln(140 + pen / 4)
        lines.append(sample("session.create", create, "ms", start + create / 1000, **common))
        lines.append(sample("rest.streaming.new", create - 2, "ms", start + create / 1000, **common))
        st = ln(90 + pen / 4)
        lines.append(sample("session.start", st, "ms", start + (create + st) / 1000, **common))
        lines.append(sample("rest.streaming.start", st - 1, "ms", start + (create + st) / 1000, **common))
        ice = create + st + ln(220 + pen)
        lines.append(sample("session.ice_connected", ice, "ms", start + ice / 1000, **common))
        ff = ice + ln(350 + pen, 0.5)
        lines.append(sample("session.first_frame", ff, "ms", start + ff / 1000, **common))
        lines.append(sample("session.first_audio", ff - ln(40), "ms", start + ff / 1000, **common))
        end = T0 + spec.duration_s - rng.uniform(0.5, 3.0)
        live_intervals.append((start + ff / 1000, end))
        # speech tasks
        t = start + ff / 1000 + rng.uniform(0.5, spec.speech_every_s)
        while t < end - 2:
            if rng.random() < spec.error_share:
                lines.append(sample("speech.onset", None, "ms", t + 1, ok=False, error="Timeout", **common))
            else:
                ev = ln(260 + pen / 2)
                onset = ev + ln(420 + pen, 0.3)
                lines.append(sample("rest.streaming.task", ln(80 + pen / 4), "ms", t + 0.1, **common))
                lines.append(sample("speech.event", ev, "ms", t + ev / 1000, **common))
                lines.append(sample("speech.onset", onset, "ms", t + onset / 1000, **common))
                lines.append(sample("speech.duration_error", round(rng.gauss(-5, 35), 2), "ms", t + 4, **common))
                if rng.random() < 0.25:
                    lines.append(sample("interrupt.latency", ln(180 + pen / 2), "ms", t + 2, **common))
            t += spec.speech_every_s * rng.uniform(0.7, 1.3)
        # media windows
        t = start + ff / 1000 + spec.media_every_s
        target = TIERS.get(tier, 1000.0)
        media = {"tier": tier, "codec": codec, **common}
        while t < end:
            progress = (t - T0) / spec.duration_s
            load_drag = 1.0 - 0.06 * progress * (pen / 380)
            lines.append(sample("media.bitrate", round(rng.gauss(target * 0.98 * load_drag, target * 0.04), 1),
                                "kbps", t, target=target, **media))
            lines.append(sample("media.fps", round(min(25.0, rng.gauss(24.6, 0.6)), 2), "fps", t,
                                target=25, **media))
            freezes = 1 if rng.random() < 0.01 + 0.03 * (pen / 380) else 0
            lines.append(sample("media.freezes", freezes, "count", t, **media))
            lines.append(sample("media.packet_loss", round(abs(rng.gauss(0, 0.3 + pen / 400)), 3), "percent",
                                t, **media))
            lines.append(sample("media.jitter", ln(4 + pen / 40), "ms", t, **media))
            t += spec.media_every_s
        stop = ln(60)
        lines.append(sample("session.stop", stop, "ms", end + stop / 1000, **common))
        lines.append(sample("rest.streaming.stop", stop - 1, "ms", end + stop / 1000, **common))
    # live sessions gauge
    t = T0
    while t <= T0 + spec.duration_s:
        live = sum(1 for a, b in live_intervals if a <= t < b)
        lines.append(sample("sessions.live", live, "count", t, scenario=spec.scenario))
        t += 1.0
    if spec.staircase:
        limit = spec.concurrency_limit or 40
        level, t = 0, T0 + 1
        while True:
            level += 10
            if level > limit:
                lines.append(sample("concurrency.step", None, "count", t, ok=False, error="10007", target=level,
                                    scenario="concurrency"))
                break
            lines.append(sample("concurrency.step", level, "count", t, target=level, scenario="concurrency"))
            t += 5
    lines.sort(key=lambda d: d["ts"])
    return [run_line(spec), *lines, {"kind": "run_end", "ended_at": T0 + spec.duration_s, "exit_code": 0}]


def write_run(path: Path, lines: list[dict[str, Any]] | list[str]) -> Path:
    """Write lines (dicts become JSON, strings are written as-is) to a JSONL file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def write_synthetic(path: Path, spec: SynthSpec | None = None) -> Path:
    """Generate and write a synthetic run."""
    return write_run(path, generate(spec or SynthSpec()))
