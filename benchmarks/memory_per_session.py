"""Memory per session, layer by layer: where does the mock's RSS go as sessions come and go?

Each mode runs ``--cycles`` sessions after ``--warmup`` ones (the allocator's high-water mark is not a leak),
``--concurrency`` at a time, samples RSS (and, in-process, glibc's in-use heap) after every ``--every``
sessions, and fits the growth per 1,000 sessions. Loopback only; bounded by ``--cycles``.

    aiortc    two bare aiortc peers (data channel + Opus audio) connect and close, in this process
    peer      the mock's MediaPlane/AvatarPeer against the harness MediaReceiver (count mode), in this process
    service   ``python -m mockserver serve`` in a subprocess, full REST + media sessions through the harness;
              RSS, [heap] and glibc in-use bytes from a probe inside the mock, read on SIGUSR1 after a
              gc (``--history-limit``, ``--no-media``, ``--tracemalloc`` apply here)

In-process modes end with a census: live aiortc/aioice/OpenSSL/mockserver objects, ``gc.garbage``, how
many objects per session only the cycle collector freed, and what ``malloc_trim(0)`` gives back.

    .venv/bin/python benchmarks/memory_per_session.py aiortc --cycles 600
    .venv/bin/python benchmarks/memory_per_session.py peer --cycles 600
    .venv/bin/python benchmarks/memory_per_session.py service --cycles 1000 --history-limit 10000
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import memory_probe
import numpy as np

KEY = "memory-key-00000000000000"
MiB = 2**20
#: Samples that are counts, not bytes: Python's allocated blocks (pymalloc arenas are not in glibc's heap).
COUNTS = frozenset({"pyblocks"})
#: Modules whose live objects the census counts.
CENSUS_PREFIXES = ("aiortc", "aioice", "OpenSSL", "pylibsrtp", "mockserver", "harness", "av.")


def slope_per_1000(points: list[tuple[int, float]]) -> float:
    if len(points) < 3:
        return float("nan")
    x, y = zip(*points, strict=True)
    return float(np.polyfit(x, y, 1)[0]) * 1000


async def churn(
    one: Callable[[], Awaitable[None]],
    args: argparse.Namespace,
    measure: Callable[[], Awaitable[dict[str, float]]],
    after_warmup: Awaitable[None] | None = None,
) -> list[tuple[int, dict[str, float]]]:
    """Warm up, then run ``args.cycles`` sessions, sampling after every ``args.every``."""
    errors: collections.Counter[str] = collections.Counter()
    done = 0

    async def worker(total: int) -> None:
        nonlocal done
        while done < total:
            done += 1
            try:
                await one()
            except Exception as exc:
                errors[type(exc).__name__] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker(args.warmup) for _ in range(args.concurrency)))
    print(f"warm-up: {done} sessions in {time.monotonic() - t0:.0f} s", flush=True)
    done = 0
    samples = [(0, await measure())]
    if after_warmup is not None:
        await after_warmup
    t0 = time.monotonic()
    while done < args.cycles:
        target = min(done + args.every, args.cycles)
        await asyncio.gather(*(worker(target) for _ in range(args.concurrency)))
        samples.append((done, await measure()))
        print(f"  {done:>6} sessions  {time.monotonic() - t0:5.0f} s  " + fmt(samples[-1][1]), flush=True)
    if errors:
        print(f"errors: {dict(errors)}")
    return samples


def fmt(sample: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:8.0f}" if k in COUNTS else f"{k} {v / MiB:8.2f} MiB" for k, v in sample.items())


def report(samples: list[tuple[int, dict[str, float]]]) -> None:
    for key in samples[0][1]:
        unit, scale = ("blocks", 1) if key in COUNTS else ("MiB", MiB)
        points = [(n, s[key] / scale) for n, s in samples]
        late = points[len(points) // 2 :]
        print(
            f"{key}: {points[-1][1] - points[0][1]:+.2f} {unit} over {points[-1][0]} sessions; slope "
            f"{slope_per_1000(points):+.2f} {unit}/1,000 (all), {slope_per_1000(late):+.2f} (second half)"
        )


async def local_measure() -> dict[str, float]:
    gc.collect()
    await asyncio.sleep(0.2)  # let closing transports finish
    gc.collect()
    return memory_probe.sample()


def census(before: dict[str, int] | None = None) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if isinstance(module, str) and module.startswith(CENSUS_PREFIXES):
            counts[f"{module}.{type(obj).__qualname__}"] += 1
    if before is not None:
        grown = {k: v - before.get(k, 0) for k, v in counts.items() if v - before.get(k, 0) > 0}
        for name, n in sorted(grown.items(), key=lambda kv: -kv[1])[:25]:
            print(f"  +{n:<6} {name}")
        if not grown:
            print("  (no census type grew)")
    return dict(counts)


async def cycle_garbage(one: Callable[[], Awaitable[None]], n: int) -> float:
    """Objects per session that only the cycle collector frees (reference cycles), with gc paused meanwhile."""
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            await one()
        await asyncio.sleep(0.3)
        freed = gc.collect()
    finally:
        gc.enable()
    return freed / n


async def in_process(one: Callable[[], Awaitable[None]], args: argparse.Namespace) -> None:
    gc.collect()
    samples = await churn(one, args, local_measure)
    report(samples)
    print("census (types that grew over one more batch of sessions):")
    before = census()
    for _ in range(args.every // args.concurrency):
        await asyncio.gather(*(one() for _ in range(args.concurrency)))
    await local_measure()
    census(before)
    print(f"gc.garbage (uncollectable): {len(gc.garbage)}")
    print(f"objects freed only by the cycle collector: {await cycle_garbage(one, 20):.0f} per session")
    before_trim = memory_probe.rss()
    if memory_probe.malloc_trim():
        print(f"malloc_trim(0): RSS {before_trim / MiB:.1f} -> {memory_probe.rss() / MiB:.1f} MiB")


# --------------------------------------------------------------------------------------------- modes


async def run_aiortc(args: argparse.Namespace) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection
    from aiortc.mediastreams import AudioStreamTrack

    async def one() -> None:
        server = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        client = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        got_message: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        got_audio: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        readers: list[asyncio.Task[None]] = []
        try:
            channel = server.createDataChannel("events")
            channel.on("open", lambda: channel.send("hello"))
            server.addTransceiver(AudioStreamTrack(), direction="sendonly")

            @client.on("datachannel")
            def on_channel(remote: Any) -> None:
                remote.on("message", lambda m: got_message.done() or got_message.set_result(m))

            @client.on("track")
            def on_track(track: Any) -> None:
                async def read() -> None:
                    await track.recv()
                    if not got_audio.done():
                        got_audio.set_result(None)

                readers.append(asyncio.ensure_future(read()))

            await server.setLocalDescription(await server.createOffer())
            await client.setRemoteDescription(server.localDescription)
            await client.setLocalDescription(await client.createAnswer())
            await server.setRemoteDescription(client.localDescription)
            await asyncio.wait_for(asyncio.gather(got_message, got_audio), 15)
        finally:
            await client.close()
            await server.close()
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    await in_process(one, args)


async def run_peer(args: argparse.Namespace) -> None:
    from harness.media import MediaReceiver
    from mockserver.config import Settings
    from mockserver.media import MediaPlane

    settings = Settings()
    settings.media.peer_silence_timeout_s = args.silence_timeout
    plane = MediaPlane(settings)
    await plane.start()
    tier = settings.tiers["low"]
    kinds = kind_chooser(args.kind)

    async def one() -> None:
        kind = kinds()
        closed = asyncio.get_running_loop().create_future()

        def on_state(state: str) -> None:
            if state == "closed" and not closed.done():
                closed.set_result(None)

        peer = plane.open_peer("memory", tier, "VP8", on_state)
        receiver = MediaReceiver([], "count")
        try:
            offer = await peer.create_offer()
            if kind == "never-started":
                return
            await peer.accept_answer(await receiver.answer(offer))
            await receiver.wait_first_frame(15)
            peer.send_event({"type": "avatar_start_talking", "task_id": "t"})
            if kind == "abandoned":  # the client hangs up; the peer notices by itself
                await receiver.close()
                await asyncio.wait_for(closed, args.silence_timeout + 10)
        finally:
            await receiver.close()
            await peer.close()

    try:
        await in_process(one, args)
        print(f"peers still open: {plane.peer_count()}")
    finally:
        await plane.close()


def kind_chooser(kind: str) -> Callable[[], str]:
    """The next session's kind: always ``kind``, or for "mix" the soak's 70/20/10 of full/abandoned/never."""
    if kind != "mix":
        return lambda: kind
    rng = random.Random(1)
    return lambda: random_kind(rng.random())


def random_kind(roll: float) -> str:
    return "full" if roll < 0.7 else "abandoned" if roll < 0.9 else "never-started"


async def run_service(args: argparse.Namespace) -> None:
    from harness import StreamingClient
    from harness.media import MediaReceiver

    env = {
        **os.environ,
        "AVATAR_MOCK_CONCURRENCY_LIMIT": "10000",
        "AVATAR_MOCK_HISTORY_LIMIT": str(args.history_limit),
        "AVATAR_MOCK_MEDIA__PEER_SILENCE_TIMEOUT_S": str(args.silence_timeout),
    }
    serve = ["serve", "--port", "0", "--log-level", "WARNING"] + (["--no-media"] if args.no_media else [])
    probes = Path(tempfile.mkdtemp(prefix="mock-memory-"))
    # The mock runs under PROBE_BOOT: on SIGUSR1 it collects garbage and writes its RSS, [heap], glibc in-use
    # bytes and Python blocks (and with --tracemalloc a heap snapshot) to ``probes``.
    trace = "1" if args.tracemalloc else "0"
    command = [sys.executable, "-c", PROBE_BOOT, str(probes), trace, str(Path(__file__).parent), *serve]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"mock did not start: {line!r}")
    url = line.removeprefix("listening on ")
    probed = 0
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as admin, StreamingClient(url, api_key=KEY) as client:

            async def probe() -> dict[str, float]:
                nonlocal probed
                path, probed = probes / f"{probed}.json", probed + 1
                proc.send_signal(signal.SIGUSR1)
                while not path.exists():
                    await asyncio.sleep(0.1)
                return dict(json.loads(path.read_text()))

            async def measure() -> dict[str, float]:
                await asyncio.sleep(0.5)
                # Abandoned sessions end when the mock notices the silence: sample once they have.
                for _ in range(int(args.silence_timeout * 4) + 40):
                    if (await admin.get("/__admin/stats")).json()["data"]["peer_connections"] == 0:
                        break
                    await asyncio.sleep(0.25)
                return await probe()

            kinds = kind_chooser(args.kind)

            async def one() -> None:
                kind = kinds()
                if args.no_media:
                    data = await client.new_session(quality="low")
                    await client.start(data.session_id)
                    await client.task(data.session_id, "Hello there.", task_type="repeat")
                    await client.stop(data.session_id)
                elif kind == "full":
                    async with client.session(quality="low", receive="count", stats_interval=None) as session:
                        await session.wait_first_frame(timeout=15)
                        await session.speak("How can I help you today?", wait_end=False)
                        await session.interrupt()
                elif kind == "abandoned":  # media up, then the client closes its peer and never stops
                    data = await client.new_session(quality="low")
                    receiver = MediaReceiver(data.ice_servers or [], "count")
                    try:
                        assert data.sdp is not None
                        answer = await receiver.answer(data.sdp.sdp)
                        await client.start(data.session_id, {"type": "answer", "sdp": answer})
                        await receiver.wait_connected(15)
                    finally:
                        await receiver.close()
                else:  # never started: its peer made an offer nobody answers; stopped (not left to idle out)
                    data = await client.new_session(quality="low")
                    await client.stop(data.session_id)

            samples = await churn(one, args, measure)
            report(samples)
            if args.tracemalloc:
                compare_snapshots(probes / "0.snap", probes / f"{probed - 1}.snap", samples[-1][0])
            stats = (await admin.get("/__admin/stats")).json()["data"]
            print(f"mock after churn: {stats}")
    finally:
        proc.terminate()
        proc.wait(timeout=15)


PROBE_BOOT = """
import gc, json, signal, sys, tracemalloc
from pathlib import Path

out, trace, taken = Path(sys.argv[1]), sys.argv[2] == "1", [0]
sys.path.insert(0, sys.argv[3])
import memory_probe

def probe(*_):
    gc.collect()
    n = taken[0]
    taken[0] += 1
    if trace:
        tracemalloc.take_snapshot().dump(str(out / f"{n}.snap"))
    (out / f"{n}.tmp").write_text(json.dumps(memory_probe.sample()))
    (out / f"{n}.tmp").rename(out / f"{n}.json")

if trace:
    tracemalloc.start(6)
signal.signal(signal.SIGUSR1, probe)
from mockserver.cli import main
sys.exit(main(sys.argv[4:]))
"""


def compare_snapshots(before: Path, after: Path, sessions: int) -> None:
    """The mock's Python-heap growth between two snapshots, per session, by allocating line (mock/aiortc frames)."""
    old, new = tracemalloc.Snapshot.load(str(before)), tracemalloc.Snapshot.load(str(after))
    skip = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    diff = new.filter_traces(skip).compare_to(old.filter_traces(skip), "traceback")
    total = sum(d.size_diff for d in diff)
    print(
        f"mock Python heap: {total / 1024:+.0f} KiB over {sessions} sessions = {total / max(sessions, 1):+.0f} B each"
    )
    for d in diff[:12]:
        if d.size_diff <= 0:
            break
        frames = [f for f in d.traceback if "site-packages" not in f.filename or "aio" in f.filename][-1:]
        where = "; ".join(f"{Path(f.filename).name}:{f.lineno}" for f in (frames or d.traceback[-1:]))
        print(
            f"  {d.size_diff / max(sessions, 1):+7.0f} B/session {d.count_diff:+6} blocks  {where}  <- {d.traceback[0]}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["aiortc", "peer", "service"])
    parser.add_argument("--cycles", type=int, default=600, help="sessions measured (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--every", type=int, default=50, help="sample after this many sessions")
    parser.add_argument("--history-limit", type=int, default=1000, help="service: closed sessions the mock keeps")
    parser.add_argument("--no-media", action="store_true", help="service: control plane only")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="service: where the mock's Python heap grew (slows the mock)"
    )
    parser.add_argument(
        "--kind",
        choices=["full", "abandoned", "never-started", "mix"],
        default="full",
        help="peer/service: what each session does (mix: the soak's 70/20/10 of full/abandoned/never-started)",
    )
    parser.add_argument("--silence-timeout", type=float, default=5.0, help="peer/service: peer_silence_timeout_s")
    args = parser.parse_args()
    modes = {"aiortc": run_aiortc, "peer": run_peer, "service": run_service}
    asyncio.run(modes[args.mode](args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
