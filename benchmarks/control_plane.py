"""Control-plane overhead: create+task+stop cycles through the mock vs the same requests to a bare aiohttp handler.

Both servers run as their own processes on loopback; one client process drives 50 concurrent clients. Rounds
alternate (bare, mock, bare, mock, ...) so machine noise hits both sides alike. Prints cycles/s, per-request
p50/p99, the per-request time ratio and the latency the mock adds.

    .venv/bin/python benchmarks/control_plane.py [--clients 50] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

BARE_SERVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web

    async def handle(request):
        await request.read()
        return web.json_response({"code": 100, "message": "success", "data": {"session_id": "s", "sdp": None}})

    app = web.Application()
    app.router.add_post("/v1/{op}", handle)

    import asyncio
    async def main():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.Event().wait()
    asyncio.run(main())
    """
)


@contextmanager
def server(command: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def cycle(http: aiohttp.ClientSession, url: str, key: str, latencies: list[float]) -> None:
    """One create -> start -> task (async) -> stop cycle: four requests."""
    headers = {"X-Api-Key": key}

    async def post(op: str, body: dict[str, object]) -> dict[str, object]:
        started = time.perf_counter()
        async with http.post(f"{url}/v1/streaming.{op}", json=body, headers=headers) as response:
            payload = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{op}: {response.status} {payload}")
        latencies.append(time.perf_counter() - started)
        return payload

    created = await post("new", {"quality": "low"})
    sid = created["data"]["session_id"]  # type: ignore[index]
    await post("start", {"session_id": sid})
    await post("task", {"session_id": sid, "text": "Hello there.", "task_type": "repeat", "task_mode": "async"})
    await post("stop", {"session_id": sid})


async def drive(url: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    latencies: list[float] = []
    cycles = 0
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal cycles
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as http:
            while time.perf_counter() < deadline:
                await cycle(http, url, f"bench-key-{index:04d}-xxxxxxxx", latencies)
                cycles += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return cycles, latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] * 1000 if len(values) > 1 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    mock_cmd = [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--no-media", "--log-level", "WARNING"]
    results: dict[str, tuple[int, list[float], float]] = {"bare": (0, [], 0.0), "mock": (0, [], 0.0)}
    with server([sys.executable, "-c", BARE_SERVER]) as bare_url, server(mock_cmd) as mock_url:
        for _ in range(args.rounds):
            for name, url in (("bare", bare_url), ("mock", mock_url)):
                cycles, lat = asyncio.run(drive(url, args.clients, args.seconds))
                total_cycles, total_lat, total_time = results[name]
                results[name] = (total_cycles + cycles, total_lat + lat, total_time + args.seconds)
    print(f"{args.clients} concurrent clients, {args.rounds} alternating rounds of {args.seconds:.0f} s each")
    print(f"{'server':<6} {'cycles/s':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    rows = {}
    for name, (cycles, lat, elapsed) in results.items():
        rows[name] = (statistics.fmean(lat) * 1000, pct(lat, 50), pct(lat, 99))
        print(
            f"{name:<6} {cycles / elapsed:>9.1f} {len(lat) / elapsed:>8.1f} {rows[name][1]:>8.2f} "
            f"{rows[name][2]:>8.2f} {rows[name][0]:>8.2f}"
        )
    ratio = rows["mock"][0] / rows["bare"][0]
    print(f"time per request, mock / bare: {ratio:.2f}x (target < 2x)")
    print(
        f"latency added by the mock: p50 {rows['mock'][1] - rows['bare'][1]:+.2f} ms, "
        f"p99 {rows['mock'][2] - rows['bare'][2]:+.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
