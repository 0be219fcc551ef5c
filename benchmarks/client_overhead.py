"""Client benchmark: CPU per receiving session (wire, count and decode mode), and how many sessions one core holds.

    .venv/bin/python benchmarks/client_overhead.py            # full run (~4 min on 2 cores)
    .venv/bin/python benchmarks/client_overhead.py --quick    # shorter windows, fewer steps (~1.5 min)

The mock runs in a child process (``avatar-mock serve``), so this process's CPU time (``time.process_time``,
every thread: aiortc's decoder threads included) is the harness's own. Sessions are low tier, VP8, v1 flow,
with every metric on: setup milestones, a media window per session, and one spoken sentence per session
during the measured window (so onset detection runs on decoded audio, as in a load test).

Phase 1: CPU per session in ``wire``, ``count`` and ``decode`` mode (``--per-mode`` sessions each).
Phase 2: ``count`` mode at growing session counts. The client keeps up when it stays under 90% of one core,
its event loop is late by less than 100 ms (p99), the kernel drops no datagram at its sockets and every
sentence's onset is detected; a step holds when, in addition, every session received >= 95% of 25 fps and
of 500 kbps with no freeze. A client that keeps up while streams fall short points at the sending side (the
mock shares the machine: see its CPU and the load average).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

from harness import MemorySink, StreamingClient
from harness.media import MediaStats
from harness.session import Session

TARGET_FPS, TARGET_KBPS, PASS = 25.0, 500.0, 0.95
SENTENCE = "Measuring the client while the avatar speaks one short sentence."


@dataclass
class Step:
    sessions: int
    mode: str
    cpu_percent: float
    server_cpu_percent: float
    load: float
    min_fps: float
    min_kbps: float
    freezes: int
    lost: int
    dropped: int
    onsets: int
    lag_p99_ms: float
    packets: int
    wall: float

    @property
    def per_session(self) -> float:
        return self.cpu_percent / self.sessions

    @property
    def us_per_packet(self) -> float:
        """CPU per received RTP packet: the cost that does not depend on how much the sender managed to send."""
        return self.cpu_percent / 100 * self.wall * 1e6 / max(self.packets, 1)

    @property
    def packets_per_session_s(self) -> float:
        return self.packets / self.sessions / self.wall

    @property
    def client_ok(self) -> bool:
        """The client keeps up: under 90% of its core, a responsive loop, no datagram dropped at its sockets,
        every onset heard (wire mode decodes no audio: no onsets to hear). (RTP loss without socket drops happened
        before the client: sender or network.)"""
        onsets_ok = self.mode == "wire" or self.onsets == self.sessions
        return self.cpu_percent < 90 and self.lag_p99_ms < 100 and self.dropped == 0 and onsets_ok

    @property
    def stream_ok(self) -> bool:
        """Every session got >= 95% of the tier's frame rate and bitrate, without a freeze."""
        return self.min_fps >= PASS * TARGET_FPS and self.min_kbps >= PASS * TARGET_KBPS and self.freezes == 0

    @property
    def verdict(self) -> str:
        if self.client_ok and self.stream_ok:
            return "holds"
        return "stream short of target (sender side)" if self.client_ok else "client limit"

    def row(self) -> str:
        return (
            f"{self.sessions:>4} {self.mode:>6} {self.cpu_percent:>7.1f}% {self.per_session:>8.2f}% "
            f"{self.min_fps:>7.1f} {self.min_kbps:>8.0f} {self.freezes:>7} {self.lost:>5} {self.dropped:>5} "
            f"{self.onsets:>6} "
            f"{self.lag_p99_ms:>8.1f} {self.us_per_packet:>6.0f} {self.server_cpu_percent:>7.1f}% {self.load:>5.1f}"
            f"  {self.verdict}"
        )


HEADER = "   n   mode  cpu(1c)  per-sess  min fps min kbps freezes  lost  drop onsets  lag p99 us/pkt    mock  load"


def socket_drops() -> int:
    """Datagrams the kernel dropped at this process's UDP sockets (full receive buffers; Linux /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    drops = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    drops += int(fields[-1])
    return drops


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of another process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_mock() -> tuple[subprocess.Popen[str], str]:
    """``avatar-mock serve`` on a free port, with room for many sessions per key."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--concurrency-limit", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 300  # a cold clip cache takes a minute or more to encode
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the mock did not start")


async def loop_lag(samples: list[float], stop: asyncio.Event, tick: float = 0.05) -> None:
    """How late the loop wakes a 50 ms sleeper: a loaded loop delays every measurement it takes."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(tick)
        samples.append((time.perf_counter() - before - tick) * 1000)


async def open_sessions(client: StreamingClient, stack: contextlib.AsyncExitStack, n: int, mode: str) -> list[Session]:
    """Open ``n`` sessions in small batches (a setup storm is not what this measures) and wait for video."""
    sessions: list[Session] = []
    for start in range(0, n, 5):
        batch = [
            client.session(quality="low", video_encoding="VP8", receive=mode, stats_interval=None, media_timeout=30)
            for _ in range(min(5, n - start))
        ]
        opened = await asyncio.gather(*(stack.enter_async_context(s) for s in batch))
        await asyncio.gather(*(s.wait_first_frame(30) for s in opened))
        sessions.extend(opened)
    return sessions


async def measure(base_url: str, n: int, mode: str, window: float, mock_pid: int | None) -> Step:
    sink = MemorySink()
    async with StreamingClient(base_url, "bench-key", sink=sink) as client, contextlib.AsyncExitStack() as stack:
        sessions = await open_sessions(client, stack, n, mode)
        await asyncio.sleep(1.0)  # let set-up work (DTLS, first keyframes) settle
        for s in sessions:
            assert s.receiver is not None
            s.receiver.stats(window=True)
        lag: list[float] = []
        stop = asyncio.Event()
        lag_task = asyncio.ensure_future(loop_lag(lag, stop))
        cpu0, t0 = time.process_time(), time.perf_counter()
        mock0 = process_cpu_seconds(mock_pid) if mock_pid else 0.0
        drops0 = socket_drops()

        async def speak_later(s: Session, delay: float) -> None:
            await asyncio.sleep(delay)
            await s.speak(SENTENCE, timeout=window)

        speakers = [speak_later(s, i * (window / 2) / n) for i, s in enumerate(sessions)]
        await asyncio.gather(asyncio.sleep(window), *speakers)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        mock_cpu = process_cpu_seconds(mock_pid) - mock0 if mock_pid else float("nan")
        dropped = socket_drops() - drops0
        windows: list[MediaStats] = [s.receiver.stats(window=True) for s in sessions if s.receiver is not None]
        stop.set()
        await lag_task
    lag.sort()
    return Step(
        sessions=n,
        mode=mode,
        cpu_percent=100 * cpu / wall,
        server_cpu_percent=100 * mock_cpu / wall,
        load=os.getloadavg()[0],
        min_fps=min(w.fps for w in windows),
        min_kbps=min(w.bitrate_kbps for w in windows),
        freezes=sum(w.freezes for w in windows),
        lost=sum(w.packets_lost + w.audio_packets_lost for w in windows),
        dropped=dropped,
        packets=sum(w.packets_received + w.audio_packets for w in windows),
        wall=wall,
        onsets=sum(1 for x in sink.of("speech.onset") if x.ok),
        lag_p99_ms=lag[int(0.99 * (len(lag) - 1))] if lag else 0.0,
    )


async def run(args: argparse.Namespace, base_url: str, mock_pid: int | None) -> None:
    print(f"client process: pid {os.getpid()}, {os.cpu_count()} cores on the machine; mock at {base_url}")
    print("cpu(1c): this process, % of one core; mock: the mock process, % of one core; load: 1-min load average")
    print("\nPhase 1: CPU per receiving session")
    print(HEADER)
    per_mode: dict[str, Step] = {}
    for mode in ("wire", "count", "decode"):
        per_mode[mode] = step = await measure(base_url, args.per_mode, mode, args.window, mock_pid)
        print(step.row(), flush=True)
    count = per_mode["count"]
    ratio = per_mode["decode"].per_session / max(count.per_session, 1e-9)
    print(f"decode costs {ratio:.1f}x count per session")
    wire_ratio = count.per_session / max(per_mode["wire"].per_session, 1e-9)
    print(f"count costs {wire_ratio:.1f}x wire per session (wire: no decryption, no audio decoding, no onsets)")
    print("\nPhase 2: sessions one core holds in count mode")
    print(HEADER)
    held = client_held = 0
    steps: list[Step] = []
    for n in args.steps:
        step = await measure(base_url, n, "count", args.window, mock_pid)
        steps.append(step)
        print(step.row(), flush=True)
        if not step.client_ok:
            break
        client_held = n
        if step.stream_ok:
            held = n
    print(f"\nheld with every stream on target: {held}; client keeping up (its own limits): {client_held}")
    costs = sorted(step.us_per_packet for step in steps)
    projected = 1e6 / (costs[len(costs) // 2] * count.packets_per_session_s)
    print(
        f"CPU per received packet (count mode, median of phase 2): {costs[len(costs) // 2]:.0f} us; at "
        f"{count.packets_per_session_s:.0f} packets/s per low-tier session that is {projected:.0f} sessions per core"
    )
    print("target: >= 50 concurrent count-mode sessions with all metrics on one core")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows and fewer steps")
    parser.add_argument("--base-url", help="use this running mock instead of starting one")
    args = parser.parse_args(argv)
    args.window = 6.0 if args.quick else 12.0
    args.per_mode = 4 if args.quick else 8
    args.steps = [25, 50, 60] if args.quick else [10, 25, 40, 50, 60, 75, 100]
    proc = None
    base_url = args.base_url
    if base_url is None:
        proc, base_url = start_mock()
    try:
        asyncio.run(run(args, base_url, proc.pid if proc else None))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
