"""Control-plane latency while the mock serves many media sessions (the "load held" promise).

One mock process; a second process holds ``--sessions`` media sessions (harness, ``receive="wire"``: RTP counted
off the socket, never decrypted, so one client core holds as many sessions as the mock serves); this
process then measures REST latency with a steady mix of calls (keep_alive, task, list, new+stop) at
``--rate`` requests per second, first with no media load and then with it, side by side in one run.
Target: p99 under 50 ms while every media session is held at >= 95% of its tier's bitrate and 24+ fps.

    .venv/bin/python benchmarks/load_held.py --sessions 60 --quality high --seconds 20 [--media-workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import textwrap
import time

import httpx

from mockserver.config import Settings

KEY = "load-held-key-00000000"
MOCK = [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--log-level", "WARNING"]

HOLDER = textwrap.dedent(
    """
    import asyncio, sys, contextlib
    from harness import StreamingClient

    async def main(url, n, quality, seconds):
        async with StreamingClient(url, api_key="holder-key-0000000000") as client:
            async with contextlib.AsyncExitStack() as stack:
                sessions = []
                for _ in range(n):
                    s = await stack.enter_async_context(
                        client.session(quality=quality, receive="wire", stats_interval=None))
                    sessions.append(s)
                await asyncio.gather(*(s.wait_first_frame(30) for s in sessions))
                print("holding", flush=True)
                await asyncio.sleep(2)
                for s in sessions:
                    s.media_stats()
                await asyncio.sleep(seconds)
                stats = [s.media_stats() for s in sessions]
                kbps = sorted(st.bitrate_kbps for st in stats)
                fps = sorted(st.fps for st in stats)
                print(kbps[0], kbps[len(kbps) // 2], fps[0], flush=True)  # min and median kbps, min fps

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
    """
)


async def probe(url: str, seconds: float, rate: float) -> list[float]:
    """Latencies (ms) of a steady mix of control-plane calls."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers={"X-Api-Key": KEY}, timeout=30) as http:

        async def call(op: str, body: dict[str, object]) -> dict[str, object]:
            t0 = time.perf_counter()
            response = await http.post(f"/v1/streaming.{op}", json=body)
            latencies.append((time.perf_counter() - t0) * 1000)
            return dict(response.json()["data"] or {})

        sid = (await call("new", {"quality": "low"}))["session_id"]
        await call("start", {"session_id": sid})
        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            step = time.perf_counter()
            match i % 4:
                case 0:
                    await call("keep_alive", {"session_id": sid})
                case 1:
                    await call("task", {"session_id": sid, "text": "Hi.", "task_type": "repeat", "task_mode": "async"})
                case 2:
                    t0 = time.perf_counter()
                    await http.get("/v1/streaming.list")
                    latencies.append((time.perf_counter() - t0) * 1000)
                case 3:
                    await call("interrupt", {"session_id": sid})
            i += 1
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - step)))
        await call("stop", {"session_id": sid})
    return latencies


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--quality", default="high")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=50, help="control-plane requests per second")
    parser.add_argument("--media-workers", type=int, default=1, help="the mock's media worker processes")
    args = parser.parse_args()
    env = {**os.environ, "AVATAR_MOCK_CONCURRENCY_LIMIT": "1000"}
    mock = subprocess.Popen(
        [*MOCK, "--media-workers", str(args.media_workers)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert mock.stdout is not None
    url = mock.stdout.readline().strip().removeprefix("listening on ")
    try:
        idle = asyncio.run(probe(url, args.seconds, args.rate))
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url, str(args.sessions), args.quality, str(args.seconds + 5)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "holding":
            raise SystemExit("the media sessions did not come up")
        loaded = asyncio.run(probe(url, args.seconds, args.rate))
        min_kbps, median_kbps, min_fps = map(float, holder.stdout.readline().split())
        holder.wait(timeout=60)
    finally:
        mock.terminate()
        mock.wait(timeout=15)
    print(
        f"control plane at {args.rate:.0f} req/s, {args.seconds:.0f} s per phase, {args.media_workers} media worker(s)"
    )
    print(f"{'phase':<28} {'n':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in (("no media sessions", idle), (f"{args.sessions} {args.quality} sessions held", loaded)):
        print(f"{name:<28} {len(values):>6} {pct(values, 50):>8.2f} {pct(values, 99):>8.2f} {max(values):>8.2f}")
    print(
        f"held {args.sessions} sessions: bitrate min {min_kbps:.0f} median {median_kbps:.0f} kbps, "
        f"fps min {min_fps:.1f}"
    )
    target_kbps = Settings().tiers[args.quality].bitrate_kbps
    at_target = min_kbps >= 0.95 * target_kbps and min_fps >= 24
    print(f"every session at target ({target_kbps} kbps, 25 fps): {'yes' if at_target else 'NO'}")
    verdict = pct(loaded, 99) < 50 and at_target
    print(f"p99 with media load {pct(loaded, 99):.1f} ms (< 50 ms) with every session at target: ", end="")
    print("PASS" if verdict else "FAIL")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
