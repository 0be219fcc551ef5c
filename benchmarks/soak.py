"""Soak: a bounded churn of sessions against one mock process, watching for leaks.

Workers loop until the churn time is over, each iteration one of: a full session (media, speak, maybe interrupt,
stop), a session abandoned without ``streaming.stop`` (the client closes its peer and walks away), or a session
created and never started (it ends by the idle timeout). Every few seconds the mock's RSS, open file descriptors,
asyncio tasks, peer connections, timers and live sessions are sampled from its admin API. Pass = once the churn
stops, every count returns to its baseline (taken after a warm-up), and RSS grows less than 1 MiB per 1,000
sessions. RSS growth is the slope of RSS against sessions served over the second half of the churn: the
allocator keeps its high-water mark (so "final minus baseline" mostly measures peak concurrency), while a leak
keeps climbing with every session. Loopback only; bounded in time; stops by itself.

    .venv/bin/python benchmarks/soak.py                  # 10 minutes of churn
    .venv/bin/python benchmarks/soak.py --seconds 15 --warmup 0 --workers 3 --counts-only   # the CI smoke
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from avatar_contract.models import NewSessionData
from harness import StreamingClient
from harness.media import MediaReceiver

KEY = "soak-key-0000000000000000"
SENTENCES = ["Hello there.", "How can I help you today?", "Let me check that for you, one moment please."]
#: A process-wide count may sit this far above its baseline and still count as returned.
SLACK = {"open_fds": 4, "asyncio_tasks": 4, "threads": 2}


@dataclass
class Churn:
    full: int = 0
    abandoned: int = 0
    never_started: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    #: The first message of each kind of error, so a failed soak says what went wrong.
    first_errors: dict[str, str] = field(default_factory=dict)

    @property
    def sessions(self) -> int:
        return self.full + self.abandoned + self.never_started


def start_mock() -> tuple[subprocess.Popen[str], str]:
    env = {
        **os.environ,
        "AVATAR_MOCK_CONCURRENCY_LIMIT": "10000",
        # Closed sessions stay in the history (under ~1.1 KiB each) until `history_limit` newer ones have closed:
        # a bounded cache that grows with every session until it is full. The mock's default (1,000) is full
        # before the second half of a 10-minute soak, where the RSS slope is taken (AVATAR_MOCK_HISTORY_LIMIT
        # in the environment changes it).
        # A vanished client is noticed after 8 s of silence instead of 30 s, so the soak settles sooner. Not less:
        # count-mode clients send no RTCP, only ICE consent checks (every 4-6 s), so 5 s closed live sessions.
        "AVATAR_MOCK_MEDIA__PEER_SILENCE_TIMEOUT_S": "8",
        "AVATAR_MOCK_MEDIA__ICE_CONNECT_TIMEOUT_S": "5",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"mock did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


async def sample(http: httpx.AsyncClient) -> dict[str, int]:
    process = (await http.get("/__admin/process")).json()["data"]
    stats = (await http.get("/__admin/stats")).json()["data"]
    return {**process, **stats}


async def full_session(client: StreamingClient, rng: random.Random) -> None:
    async with client.session(quality="low", receive="count", stats_interval=None) as s:
        await s.wait_first_frame(timeout=15)
        await s.speak(rng.choice(SENTENCES), wait_end=False)
        if rng.random() < 0.5:
            await s.interrupt()


async def post(raw: httpx.AsyncClient, op: str, body: dict[str, Any]) -> dict[str, Any]:
    """A bare REST call: the harness client would stop these sessions for us, which is what a vanished client
    does not do."""
    response = await raw.post(f"/v1/streaming.{op}", json=body)
    response.raise_for_status()
    return dict(response.json()["data"] or {})


async def abandoned_session(raw: httpx.AsyncClient) -> None:
    """Connect media, then vanish: close the peer, never call ``streaming.stop``."""
    data = NewSessionData.model_validate(await post(raw, "new", {"quality": "low"}))
    receiver = MediaReceiver(data.ice_servers or [], "count")
    try:
        assert data.sdp is not None
        answer = await receiver.answer(data.sdp.sdp)
        await post(raw, "start", {"session_id": data.session_id, "sdp": {"type": "answer", "sdp": answer}})
        await receiver.wait_connected(15)
    finally:
        await receiver.close()


async def never_started(raw: httpx.AsyncClient) -> None:
    await post(raw, "new", {"quality": "low", "activity_idle_timeout": 30})


async def worker(url: str, deadline: float, churn: Churn, seed: int) -> None:
    rng = random.Random(seed)
    raw = httpx.AsyncClient(base_url=url, headers={"X-Api-Key": KEY}, timeout=30)
    async with StreamingClient(url, api_key=KEY, timeout=30) as client, raw:
        while time.monotonic() < deadline:
            roll = rng.random()
            try:
                if roll < 0.7:
                    await full_session(client, rng)
                    churn.full += 1
                elif roll < 0.9:
                    await abandoned_session(raw)
                    churn.abandoned += 1
                else:
                    await never_started(raw)
                    churn.never_started += 1
            except Exception as exc:  # a soak counts failures; it does not stop on the first one
                name = type(exc).__name__
                churn.errors[name] = churn.errors.get(name, 0) + 1
                churn.first_errors.setdefault(name, str(exc)[:300])


async def soak(args: argparse.Namespace) -> int:
    proc, url = start_mock()
    timeline: list[tuple[float, int, dict[str, int]]] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            warm = Churn()
            # Warm up at full concurrency: the allocator's high-water mark is part of the baseline, not a leak.
            warm_until = time.monotonic() + args.warmup
            await asyncio.gather(*(worker(url, warm_until, warm, 1000 + i) for i in range(args.workers)))
            await settle(http, {"sessions_live": 0, "peer_connections": 0, "session_timers": 0}, 60)
            baseline = await sample(http)
            churn = Churn()
            t0 = time.monotonic()
            sampler = asyncio.ensure_future(sample_every(http, args.sample_every, t0, churn, timeline))
            await asyncio.gather(*(worker(url, t0 + args.seconds, churn, i) for i in range(args.workers)))
            churned = time.monotonic()
            settled = await settle(http, {"sessions_live": 0, "peer_connections": 0, "session_timers": 0}, args.settle)
            await asyncio.sleep(2)
            sampler.cancel()
            final = await sample(http)
            timeline.append((time.monotonic() - t0, churn.sessions, final))
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return report(args, baseline, final, timeline, churn, churned - t0, settled)


async def sample_every(
    http: httpx.AsyncClient, every: float, t0: float, churn: Churn, timeline: list[tuple[float, int, dict[str, int]]]
) -> None:
    while True:
        timeline.append((time.monotonic() - t0, churn.sessions, await sample(http)))
        await asyncio.sleep(every)


def rss_slope_per_1000(timeline: list[tuple[float, int, dict[str, int]]], churn_s: float) -> float:
    """MiB of RSS per 1,000 sessions, fitted over the second half of the churn."""
    late = [(n, s["rss_bytes"] / 2**20) for t, n, s in timeline if churn_s / 2 <= t <= churn_s]
    if len(late) < 3 or late[-1][0] == late[0][0]:
        return float("nan")
    sessions, rss = zip(*late, strict=True)
    return float(np.polyfit(sessions, rss, 1)[0]) * 1000


async def settle(http: httpx.AsyncClient, targets: dict[str, int], timeout: float) -> float | None:
    """Seconds until every target count is reached, or None if it never was within ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        now = await sample(http)
        if all(now[k] <= v for k, v in targets.items()):
            return time.monotonic() - t0
        await asyncio.sleep(1)
    return None


def report(
    args: argparse.Namespace,
    baseline: dict[str, int],
    final: dict[str, int],
    timeline: list[tuple[float, int, dict[str, int]]],
    churn: Churn,
    churn_s: float,
    settled: float | None,
) -> int:
    peak_rss = max(s["rss_bytes"] for _, _, s in timeline)
    growth = (final["rss_bytes"] - baseline["rss_bytes"]) / 2**20
    per_1000 = rss_slope_per_1000(timeline, churn_s)
    print(
        f"churn {churn_s:.0f} s with {args.workers} workers: {churn.sessions} sessions "
        f"({churn.full} full, {churn.abandoned} abandoned, {churn.never_started} never started)"
    )
    print(f"errors during churn: {churn.errors or 'none'}")
    for name, message in churn.first_errors.items():
        print(f"  first {name}: {message}")
    print(
        f"peak live sessions {max(s['sessions_live'] for _, _, s in timeline)}, "
        f"peak peers {max(s['peer_connections'] for _, _, s in timeline)}"
    )
    print(f"settled (sessions, peers, timers back to 0): {f'after {settled:.0f} s' if settled is not None else 'NO'}")
    print(f"{'count':<18} {'baseline':>12} {'peak':>12} {'final':>12}")
    checks = []
    for key in ("sessions_live", "peer_connections", "session_timers", "asyncio_tasks", "open_fds", "threads"):
        peak = max(s[key] for _, _, s in timeline)
        ok = final[key] <= baseline[key] + SLACK.get(key, 0)
        checks.append(ok)
        print(f"{key:<18} {baseline[key]:>12} {peak:>12} {final[key]:>12}  {'ok' if ok else 'LEAK'}")
    mib = 2**20
    rss = [baseline["rss_bytes"] / mib, peak_rss / mib, final["rss_bytes"] / mib]
    print(f"{'rss MiB':<18} {rss[0]:>12.1f} {rss[1]:>12.1f} {rss[2]:>12.1f}")
    rss_ok = per_1000 < 1.0 or args.counts_only
    verdict = "not checked (--counts-only)" if args.counts_only else ("ok" if rss_ok else "LEAK")
    print(
        f"RSS growth: {growth:+.2f} MiB over {churn.sessions} sessions = {per_1000:+.2f} MiB per 1,000 "
        f"(limit 1 MiB) {verdict}"
    )
    passed = all(checks) and rss_ok and settled is not None and not churn.errors
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="churn time (default 600)")
    parser.add_argument("--workers", type=int, default=6, help="concurrent churning clients (default 6)")
    parser.add_argument("--warmup", type=float, default=30, help="churn before the baseline is taken")
    parser.add_argument("--sample-every", type=float, default=5)
    parser.add_argument("--settle", type=float, default=90, help="how long counts may take to return")
    parser.add_argument(
        "--counts-only",
        action="store_true",
        help="pass on the counts alone (the CI smoke: a slope over a few hundred sessions is allocator noise)",
    )
    return asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
