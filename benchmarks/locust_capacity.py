"""How many speech-scenario users one locust process sustains while its own latency overhead stays < 5 ms at p99.

For each user count N (a ladder), in one run against one mock and *at the same time* (so both see the same
machine, noise included):

* direct: N sessions driven by the harness on a plain asyncio loop (no locust, no gevent), in this process;
* locust: ``locust -f loadtests/speech_latency.py -u N`` in one process (what one worker carries).

Both use count receive mode, the same sentences and think time. Every measurement the harness takes is
timestamped on its asyncio loop, so what locust can add to them is how late that loop runs: a probe coroutine
in each loop sleeps 50 ms and records how much later it woke (``loop.lag``). The overhead at N is the locust
loop's lag p99 minus the direct loop's; N is sustained while that stays under 5 ms. For context the run also
reports the p99 of ``rest.streaming.task``, ``speech.event`` and ``speech.onset`` on both sides, the bridge's
round trip (a greenlet running a no-op coroutine: what each user's call waits on top) and the gevent hub's
lateness in the locust process.

Run: ``.venv/bin/python benchmarks/locust_capacity.py [--levels 5,10,20,30] [--seconds 60]``;
``--bridge-only --levels 50,200 --seconds 20`` measures the bridge alone (greenlets awaiting short sleeps).
Locust loads this same file next to the speech scenario; then it only adds the probes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 5.0
METRICS = ("rest.streaming.task", "speech.event", "speech.onset")
PROBE_INTERVAL_S = 0.05
WARMUP_S = 10.0
SENTENCE_KINDS = "short,medium"
THINK_S = (1.0, 3.0)
KEY = "benchmark-locust-capacity"


async def lag_probe(record: Callable[..., None]) -> None:
    """How late the asyncio loop wakes a sleeper: the delay every measurement taken on it inherits."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(PROBE_INTERVAL_S)
        record("loop.lag", (time.perf_counter() - before - PROBE_INTERVAL_S) * 1000, "ms")


# --- the probes, when locust loads this file ---

if __name__ != "__main__":
    import gevent
    from locust import events

    @events.test_start.add_listener
    def _start_probes(**_: Any) -> None:
        from loadtests._runtime import runtime

        rt = runtime()
        rt.bridge.loop.call_soon_threadsafe(lambda: rt.bridge.loop.create_task(lag_probe(rt.sink.record)))
        gevent.spawn(_bridge_probe, rt)

    def _bridge_probe(rt: Any) -> None:
        """Bridge round trip of a no-op coroutine, and how late the hub woke us (gevent's own lag)."""

        async def noop() -> None:
            return None

        while True:
            before = time.perf_counter()
            gevent.sleep(PROBE_INTERVAL_S)
            woke = time.perf_counter()
            rt.bridge.run(noop(), 5.0)
            rt.record("bridge.rtt", (time.perf_counter() - woke) * 1000, "ms")
            rt.record("bridge.hub_lateness", (woke - before - PROBE_INTERVAL_S) * 1000, "ms")


# --- the driver ---


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def p99(values: list[float]) -> float | None:
    return percentile(values, 0.99)


def window(samples: list[dict[str, Any]], metric: str, start: float, end: float) -> list[float]:
    return [s["value"] for s in samples if s["metric"] == metric and s["ok"] and start <= s["ts"] <= end]


async def direct_run(url: str, users: int, seconds: float) -> tuple[list[dict[str, Any]], float]:
    """The speech workload on the harness alone; returns its samples and the CPU seconds it used."""
    from harness.client import StreamingClient
    from harness.metrics import MemorySink
    from loadtests._speech_text import pick_sentence

    sink = MemorySink()
    kinds = SENTENCE_KINDS.split(",")
    deadline = time.monotonic() + seconds

    async def user() -> None:
        client = StreamingClient(url, api_key=KEY, sink=sink, labels={"scenario": "speech"})
        session = client.session(receive="count", keep_alive_interval=30.0, stats_interval=5.0)
        async with client, session:
            await session.wait_first_frame(10)
            while time.monotonic() < deadline:
                await session.speak(pick_sentence(kinds))
                await asyncio.sleep(random.uniform(*THINK_S))

    cpu = time.process_time()
    probe = asyncio.ensure_future(lag_probe(sink.record))
    await asyncio.gather(*(user() for _ in range(users)), return_exceptions=True)
    probe.cancel()
    return [s.to_json() for s in sink.samples], time.process_time() - cpu


def start_locust(url: str, users: int, seconds: float, run_dir: Path) -> subprocess.Popen[str]:
    files = f"{ROOT / 'loadtests' / 'speech_latency.py'},{Path(__file__).resolve()}"
    cmd = [sys.executable, "-m", "locust", "-f", files, "--headless", "-u", str(users), "-r", str(users)]
    cmd += ["-t", f"{int(seconds)}s", "--host", url, "--run-dir", str(run_dir), "--only-summary"]
    cmd += ["--sentences", SENTENCE_KINDS, "--think-time", ",".join(map(str, THINK_S)), "--interrupt-every", "0"]
    env = {**os.environ, "HEYGEN_API_KEY": KEY}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def measure(url: str, users: int, seconds: float) -> dict[str, Any]:
    """One level: locust and direct side by side; the row of results."""
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        process = start_locust(url, users, seconds + 5, Path(tmp))
        while not list(Path(tmp).glob("*/samples.jsonl")):  # its users start with the run file
            if process.poll() is not None:
                output, _ = process.communicate()
                raise RuntimeError(f"locust exited {process.returncode}:\n{output[-3000:]}")
            time.sleep(0.2)
        watched = psutil.Process(process.pid)
        cpu_before = sum(watched.cpu_times()[:2])
        started = time.time()
        direct, direct_cpu = asyncio.run(direct_run(url, users, seconds))
        ended = time.time()
        locust_cpu = sum(watched.cpu_times()[:2]) - cpu_before
        output, _ = process.communicate(timeout=120)
        if process.returncode not in (0, 1):  # 1: some samples failed, which the row reports
            raise RuntimeError(f"locust exited {process.returncode}:\n{output[-3000:]}")
        run_file = next(Path(tmp).glob("*/samples.jsonl"))
        lines = [json.loads(line) for line in run_file.read_text().splitlines()]
    loc = [line for line in lines if line["kind"] == "sample"]
    since = started + WARMUP_S
    row: dict[str, Any] = {
        "users": users,
        "locust_cores": round(locust_cpu / (ended - started), 2),
        "direct_cores": round(direct_cpu / (ended - started), 2),
    }
    for metric in ("loop.lag", *METRICS):
        mine, theirs = window(direct, metric, since, ended), window(loc, metric, since, ended)
        row[metric] = {
            "n": [len(mine), len(theirs)],
            "direct_p50": percentile(mine, 0.5),
            "locust_p50": percentile(theirs, 0.5),
            "direct_p99": p99(mine),
            "locust_p99": p99(theirs),
        }
    for metric in ("bridge.rtt", "bridge.hub_lateness"):
        row[metric] = p99(window(loc, metric, since, ended))
    row["errors"] = {
        "direct": sum(1 for s in direct if not s["ok"] and s["ts"] >= since),
        "locust": sum(1 for s in loc if not s["ok"] and since <= s["ts"] <= ended),
    }
    lag = row["loop.lag"]
    row["overhead_p99_ms"] = round((lag["locust_p99"] or 0.0) - (lag["direct_p99"] or 0.0), 2)
    # Failed samples mean the machine (or the mock) gave out: nothing is sustained at that level.
    row["ok"] = row["overhead_p99_ms"] < BUDGET_MS and not any(row["errors"].values())
    return row


def bridge_only(users: int, seconds: float) -> dict[str, Any]:
    """The bridge alone, in a locust-patched process: ``users`` greenlets each await a 0-50 ms sleep on the
    loop again and again; added latency = wall time - the sleep. Also the hub's lateness meanwhile."""
    import gevent
    import locust  # noqa: F401 - monkey-patches this process, as in a locust run

    from loadtests._bridge import AsyncBridge

    sys.setswitchinterval(0.001)
    bridge = AsyncBridge()
    added: list[float] = []
    lateness: list[float] = []
    deadline = time.monotonic() + seconds

    def user(rng: random.Random) -> None:
        while time.monotonic() < deadline:
            delay = rng.uniform(0, 0.05)
            before = time.perf_counter()
            bridge.run(asyncio.sleep(delay), 10)
            added.append((time.perf_counter() - before - delay) * 1000)
            gevent.sleep(rng.uniform(0, 0.05))

    def ticker() -> None:
        while True:
            before = time.perf_counter()
            gevent.sleep(0.01)
            lateness.append((time.perf_counter() - before - 0.01) * 1000)

    tick = gevent.spawn(ticker)
    gevent.joinall([gevent.spawn(user, random.Random(i)) for i in range(users)])
    tick.kill()
    bridge.close()
    return {
        "users": users,
        "calls": len(added),
        "added_p50_ms": percentile(added, 0.5),
        "added_p99_ms": p99(added),
        "hub_lateness_p99_ms": p99(lateness),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--levels", default="5,10,20,30,40", help="user counts to try, ascending")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured duration of each level")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--bridge-only", action="store_true", help="measure the bridge alone (no mock, no media) at --levels"
    )
    args = parser.parse_args()
    if args.bridge_only:
        for users in (int(n) for n in args.levels.split(",")):
            print(json.dumps(bridge_only(users, args.seconds)), flush=True)
        return 0

    from loadtests._target import LOAD_CONCURRENCY_LIMIT, EmbeddedMock

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        mock = EmbeddedMock(KEY, LOAD_CONCURRENCY_LIMIT, Path(tmp) / "mock.log", media_workers=os.cpu_count())
        try:
            url = mock.wait_ready()
            for users in (int(n) for n in args.levels.split(",")):
                row = measure(url, users, args.seconds)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not row["ok"]:
                    break
        finally:
            mock.stop()
    sustained = [r for r in rows if r["ok"]]
    if not sustained:
        print(f"no level kept the locust overhead under {BUDGET_MS} ms at p99")
    else:
        best = sustained[-1]
        print(
            f"sustained {best['users']} users in one locust process (loop lag p99 +{best['overhead_p99_ms']} ms "
            f"over the direct run; locust process used {best['locust_cores']} cores)"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
