"""Media workers benchmark: sessions held at the tier's bitrate and frame rate, --media-workers 1 vs 2.

    .venv/bin/python benchmarks/media_workers.py                                # high VP8, 20..140 sessions
    .venv/bin/python benchmarks/media_workers.py --steps 10,20 --window 3      # a quick look
    .venv/bin/python benchmarks/media_workers.py --workers 1,2,1,2              # alternate on a busy host

For each worker count the real mock runs as a child (``python -m mockserver serve --media-workers N``);
sessions are opened through its REST API (v1 flow: ``streaming.new`` offer, answer in ``streaming.start``)
in steps. This process receives with aiortc client peers that count RTP straight off the ICE socket (as in
media_sessions.py: no decryption, no decoding). After each step and a warm-up, a window measures every
session's received video bitrate and frame rate; a step passes when every session gets >= 95% of the
tier's bitrate and of its frame rate. The ramp stops at the first failing step (a failed step during which
a server process mostly waited for a CPU is measured once more). CPU is read from /proc for the control
plane and each worker; "waited" is the largest share of the window one of them was runnable without a CPU
(a shared host's other jobs, or this receiver).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from media_sessions import CONTENDED, PASS_FRACTION, CountingClient

from harness import StreamingClient
from mockserver.config import Settings

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def cpu_waited(pid: int) -> float:
    """Seconds the process was runnable but had no CPU (Linux schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def process_tree(pid: int) -> list[int]:
    """The server and its media workers."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if proc_stat(int(entry.name))[0] == pid:
                    pids.append(int(entry.name))
    return pids


@dataclass
class Step:
    workers: int
    sessions: int
    kbps: list[float]
    fps: list[float]
    cpu: list[float]  # per process, fraction of a core: control plane first, then workers
    waited: list[float]
    receiver_cpu: float
    connected: bool

    def passes(self, target_kbps: int, fps: int) -> bool:
        return (
            self.connected
            and min(self.kbps, default=0) >= PASS_FRACTION * target_kbps
            and min(self.fps, default=0) >= PASS_FRACTION * fps
        )

    def describe(self, ok: bool) -> str:
        procs = " + ".join(f"{100 * c:.0f}%" for c in self.cpu)
        return (
            f"{'PASS' if ok else 'FAIL'} workers={self.workers} n={self.sessions:<4} kbps min/mean "
            f"{min(self.kbps, default=0):5.0f}/{sum(self.kbps) / max(1, len(self.kbps)):5.0f}  fps min "
            f"{min(self.fps, default=0):4.1f}  server CPU {100 * sum(self.cpu):4.0f}% ({procs})  waited "
            f"{100 * max(self.waited, default=0):3.0f}%  receiver {100 * self.receiver_cpu:3.0f}%  "
            f"load {os.getloadavg()[0]:.1f}" + ("" if self.connected else "  NOT ALL CONNECTED")
        )


async def start_server(workers: int) -> tuple[asyncio.subprocess.Process, str]:
    env = {
        **os.environ,
        "AVATAR_MOCK_CONCURRENCY_LIMIT": "100000",
        "AVATAR_MOCK_IDLE_TIMEOUT_DEFAULT_S": "3600",
        "AVATAR_MOCK_SESSION_DURATION_LIMIT_S": "7200",
    }
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mockserver", "serve", "--port", "0", "--log-level", "WARNING"),
        *("--media-workers", str(workers)),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 300)).decode().strip()
    if not line.startswith("listening on "):
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


async def open_session(client: StreamingClient, tier: str, codec: str) -> CountingClient:
    data = await client.new_session(quality=tier, video_encoding=codec)
    assert data.sdp is not None
    receiver, answer = await CountingClient.answer(data.sdp.sdp)
    await client.start(data.session_id, {"type": "answer", "sdp": answer})
    return receiver


async def measure(workers: int, pids: list[int], receivers: list[CountingClient], window: float, warmup: float) -> Step:
    deadline = time.monotonic() + 30
    while any(r.pc.connectionState != "connected" for r in receivers) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for receiver in receivers:
        receiver.learn_srtp_tag()
    await asyncio.sleep(warmup)
    before = [r.counter.snapshot() for r in receivers]
    cpu0, wait0 = [proc_stat(p)[1] for p in pids], [cpu_waited(p) for p in pids]
    wall0, rcpu0 = time.monotonic(), time.process_time()
    await asyncio.sleep(window)
    after = [r.counter.snapshot() for r in receivers]
    cpu1, wait1 = [proc_stat(p)[1] for p in pids], [cpu_waited(p) for p in pids]
    wall = time.monotonic() - wall0
    return Step(
        workers=workers,
        sessions=len(receivers),
        kbps=[(a[0] - b[0]) * 8 / wall / 1000 for a, b in zip(after, before, strict=True)],
        fps=[(a[1] - b[1]) / wall for a, b in zip(after, before, strict=True)],
        cpu=[(c1 - c0) / wall for c0, c1 in zip(cpu0, cpu1, strict=True)],
        waited=[(w1 - w0) / wall for w0, w1 in zip(wait0, wait1, strict=True)],
        receiver_cpu=(time.process_time() - rcpu0) / wall,
        connected=all(r.pc.connectionState == "connected" for r in receivers),
    )


async def ramp(args: argparse.Namespace, workers: int) -> Step | None:
    tier = Settings().tiers[args.tier]
    proc, url = await start_server(workers)
    receivers: list[CountingClient] = []
    best: Step | None = None
    try:
        pids = process_tree(proc.pid)
        async with StreamingClient(url, api_key="bench", timeout=60) as client:
            for n in args.steps:
                while len(receivers) < n:
                    batch = min(10, n - len(receivers))
                    receivers += await asyncio.gather(
                        *(open_session(client, args.tier, args.codec) for _ in range(batch))
                    )
                step = await measure(workers, pids, receivers, args.window, args.warmup)
                ok = step.passes(tier.bitrate_kbps, tier.fps)
                if not ok and max(step.waited) > CONTENDED:  # other jobs had the CPUs: measure once more
                    print("CONTENDED " + step.describe(ok), flush=True)
                    step = await measure(workers, pids, receivers, args.window, args.warmup)
                    ok = step.passes(tier.bitrate_kbps, tier.fps)
                print(step.describe(ok), flush=True)
                if not ok:
                    break
                best = step
            await asyncio.gather(*(r.pc.close() for r in receivers), return_exceptions=True)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
    return best


async def main(args: argparse.Namespace) -> None:
    print(
        f"# media_workers benchmark: {args.tier} {args.codec}, steps {args.steps}, window {args.window:.0f} s, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results = [(workers, await ramp(args, workers)) for workers in args.workers]
    print("\n| --media-workers | sessions held (largest passing step) | server CPU at that step | per process |")
    print("|---|---|---|---|")
    for workers, best in results:
        if best is None:
            print(f"| {workers} | none passed | | |")
            continue
        per = " + ".join(f"{100 * c:.0f}%" for c in best.cpu)
        print(f"| {workers} | {best.sessions} | {100 * sum(best.cpu):.0f}% of a core | {per} |")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts to compare, in this order (repeats allowed)")
    parser.add_argument("--tier", default="high")
    parser.add_argument("--codec", default="VP8")
    parser.add_argument("--steps", default="20,40,60,80,100,120,140", help="session counts, ascending")
    parser.add_argument("--window", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    args.steps = [int(s) for s in args.steps.split(",")]
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
