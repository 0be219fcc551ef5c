"""Media-plane benchmark: server CPU per session, replay vs live encoding, and sessions one core serves.

    .venv/bin/python benchmarks/media_sessions.py            # full run (~10 min on 2 cores)
    .venv/bin/python benchmarks/media_sessions.py --quick    # shorter windows, VP8 only (~4 min)

The server side runs in a child process (so its CPU time is its own): either the mock's MediaPlane
(pre-encoded packets replayed) or plain aiortc peers encoding the same synthetic picture live. This
process is the receiving side: aiortc client peers whose RTP is counted straight off the ICE socket
(header fields only: no SRTP decryption, no jitter buffer, no decoder), so receivers stay cheap.

Phase 1 prints the server's CPU per session for each tier and design and the replay/live ratio.
Phase 2 searches (bounded in steps and time) for the most concurrent sessions of one tier that the
single-threaded server delivers with every session at >= 95% of its target bitrate and of 25 fps and
no frozen slots. On a shared host a failed step during which the server mostly waited for a CPU is
re-run once; every line shows that wait, and "per fully used core" divides sessions by CPU used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import h264, vpx
from aiortc.mediastreams import MediaStreamError

from mockserver.config import Settings, Tier
from mockserver.media import MediaPlane
from mockserver.media.clips import AUDIO_PACKET_SAMPLES, AUDIO_RATE, ClipRenderer, render_audio
from mockserver.media.ice import prepare_loopback_ice
from mockserver.media.sdp import VideoCodec, codec_preferences
from mockserver.media.tracks import ReplayState, ReplayTrack

PASS_FRACTION = 0.95
#: A failed step whose server waited this share of the window for a CPU (a busy shared host) is re-run once.
CONTENDED = 0.3
SRTP_TAG_BYTES = {b"SRTP_AEAD_AES_256_GCM": 16, b"SRTP_AEAD_AES_128_GCM": 16, b"SRTP_AES128_CM_SHA1_80": 10}


# ------------------------------------------------------------------------------------ server side


class LiveVideoTrack(ReplayTrack):
    """The same synthetic picture, handed to aiortc as raw frames so that it encodes every session live."""

    kind = "video"

    def __init__(self, frames: list[Any], fps: int, state: ReplayState) -> None:
        super().__init__(state, 1 / fps)
        self._frames = frames
        self._time_base = fractions.Fraction(1, fps)

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        slot = await paced_slot(self)
        frame = av.VideoFrame.from_ndarray(self._frames[slot % len(self._frames)], format="yuv420p")
        frame.pts, frame.time_base = slot, self._time_base
        return frame


class LiveAudioTrack(ReplayTrack):
    kind = "audio"

    def __init__(self, pcm: Any, state: ReplayState) -> None:
        super().__init__(state, AUDIO_PACKET_SAMPLES / AUDIO_RATE)
        self._pcm = pcm
        self._time_base = fractions.Fraction(1, AUDIO_RATE)

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        slot = await paced_slot(self)
        start = (slot * AUDIO_PACKET_SAMPLES) % len(self._pcm)
        frame = av.AudioFrame.from_ndarray(self._pcm[None, start : start + AUDIO_PACKET_SAMPLES], layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, slot * AUDIO_PACKET_SAMPLES, self._time_base
        return frame


async def paced_slot(track: ReplayTrack) -> int:
    """The replay tracks' pacing (shared epoch on the 20 ms grid), for the live tracks."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, track.next_due(loop.time()) - loop.time()))
    if track.readyState != "live":
        raise MediaStreamError
    return track._advance(loop.time())


async def live_offers(tier: Tier, codec: VideoCodec, n: int) -> tuple[list[RTCPeerConnection], list[str]]:
    """aiortc's own encoders at the tier's bitrate (set through their default: no REMB from counters)."""
    vpx.DEFAULT_BITRATE = h264.DEFAULT_BITRATE = tier.bitrate_kbps * 1000
    renderer = ClipRenderer(tier.width, tier.height, tier.fps)
    frames = [renderer.frame(i, False) for i in range(2 * tier.fps)]
    pcm = (render_audio("idle", 2.0) * 32767).astype("int16")
    pcs, offers = [], []
    for _ in range(n):
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        state = ReplayState()
        video = pc.addTransceiver(LiveVideoTrack(frames, tier.fps, state), direction="sendonly")
        video.setCodecPreferences(codec_preferences("video", codec, for_offer=True))
        audio = pc.addTransceiver(LiveAudioTrack(pcm, state), direction="sendonly")
        audio.setCodecPreferences(codec_preferences("audio"))
        offer = await pc.createOffer()
        prepare_loopback_ice(pc, lambda: None)
        await pc.setLocalDescription(offer)
        pcs.append(pc)
        offers.append(pc.localDescription.sdp)
    return pcs, offers


def cpu_wait() -> float:
    """Seconds this process spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


async def serve() -> None:
    """Child process: one JSON command per stdin line, one JSON reply per stdout line."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    settings = Settings()
    plane = MediaPlane(settings)
    await plane.start()
    peers: list[Any] = []
    live: list[RTCPeerConnection] = []

    def reply(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    while line := await reader.readline():
        cmd = json.loads(line)
        if cmd["op"] == "open":
            tier = settings.tiers[cmd["tier"]]
            if cmd["design"] == "replay":
                peers = [plane.open_peer(f"b{i}", tier, cmd["codec"], lambda state: None) for i in range(cmd["n"])]
                offers = [await peer.create_offer() for peer in peers]
            else:
                live, offers = await live_offers(tier, cmd["codec"], cmd["n"])
            reply({"offers": offers})
        elif cmd["op"] == "answers":
            if peers:
                for peer, sdp in zip(peers, cmd["answers"], strict=True):
                    await peer.accept_answer(sdp)
            else:
                for pc, sdp in zip(live, cmd["answers"], strict=True):
                    await pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
            reply({"ok": True})
        elif cmd["op"] == "cpu":
            skipped = sum(p.stats()["video_slots_skipped"] for p in peers)
            reply({"cpu": time.process_time(), "wall": time.monotonic(), "skipped": skipped, "waited": cpu_wait()})
        elif cmd["op"] == "exit":
            break
    await asyncio.gather(*(pc.close() for pc in live))
    await plane.close()
    reply({"bye": True})


# ---------------------------------------------------------------------------------- receiving side


@dataclass
class Counter:
    """RTP seen by one client, from the clear-text RTP header of each SRTP packet."""

    video_pt: int
    video_payload_bytes: int = 0
    video_frames: int = 0
    audio_packets: int = 0
    tag_bytes: int = 16
    last_timestamp: int = -1

    def count(self, data: bytes) -> None:
        if data[1] & 0x7F == self.video_pt:
            header = 12 + 4 * (data[0] & 0x0F)
            if data[0] & 0x10:
                header += 4 + 4 * int.from_bytes(data[header + 2 : header + 4], "big")
            self.video_payload_bytes += len(data) - header - self.tag_bytes
            timestamp = int.from_bytes(data[4:8], "big")
            if timestamp != self.last_timestamp:
                self.video_frames += 1
                self.last_timestamp = timestamp
        else:
            self.audio_packets += 1

    def snapshot(self) -> tuple[int, int, int]:
        return self.video_payload_bytes, self.video_frames, self.audio_packets


@dataclass
class CountingClient:
    pc: RTCPeerConnection
    counter: Counter

    @classmethod
    async def answer(cls, offer: str) -> tuple[CountingClient, str]:
        match = re.search(r"m=video \d+ \S+ (\d+)", offer)
        assert match, "offer without video"
        client = cls(RTCPeerConnection(RTCConfiguration(iceServers=[])), Counter(video_pt=int(match.group(1))))
        await client.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await client.pc.setLocalDescription(await client.pc.createAnswer())
        connection = client.pc.getTransceivers()[0].receiver.transport.transport._connection
        original = connection.data_received

        def data_received(data: bytes, component: int) -> None:
            if len(data) > 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 223:
                client.counter.count(data)  # RTP: count and drop (never decrypted, never decoded)
            else:
                original(data, component)  # STUN, DTLS, RTCP

        connection.data_received = data_received  # type: ignore[method-assign]
        return client, client.pc.localDescription.sdp

    def learn_srtp_tag(self) -> None:
        dtls = self.pc.getTransceivers()[0].receiver.transport
        with contextlib.suppress(Exception):  # the benchmark falls back to a 16-byte tag
            self.counter.tag_bytes = SRTP_TAG_BYTES[dtls._ssl.get_selected_srtp_profile()]


@dataclass
class Result:
    design: str
    tier: str
    codec: str
    sessions: int
    server_cpu: float  # fraction of one core
    server_waited: float  # fraction of the window the server was runnable but had no CPU
    receiver_cpu: float
    kbps: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    skipped: int = 0
    connected: bool = True

    @property
    def cpu_per_session(self) -> float:
        return self.server_cpu / self.sessions

    @property
    def cpu_per_session_at_full_rate(self) -> float:
        """Scaled to the frames a session should get: a starved live encoder delivers fewer."""
        mean_fps = sum(self.fps) / max(1, len(self.fps))
        return self.cpu_per_session * max(1.0, 25 / max(mean_fps, 1e-9))

    def passes(self, target_kbps: int, fps: int) -> bool:
        return (
            self.connected
            and self.skipped == 0  # no session froze (the server fell more than 200 ms behind)
            and min(self.kbps, default=0) >= PASS_FRACTION * target_kbps
            and min(self.fps, default=0) >= PASS_FRACTION * fps
        )


class Server:
    """The child process running the server side."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> Server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        server = cls(proc)
        await server.read()
        return server

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 600)
        if not line:
            raise RuntimeError("benchmark server exited")
        return dict(json.loads(line))

    async def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.read()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask(op="exit"), 30)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()


async def measure(design: str, tier_name: str, codec: str, n: int, window: float, warmup: float) -> Result:
    server = await Server.start()
    clients: list[CountingClient] = []
    try:
        offers = (await server.ask(op="open", design=design, tier=tier_name, codec=codec, n=n))["offers"]
        answers = []
        for offer in offers:
            client, answer = await CountingClient.answer(offer)
            clients.append(client)
            answers.append(answer)
        await server.ask(op="answers", answers=answers)
        deadline = time.monotonic() + 30 + n * 0.2
        while any(c.pc.connectionState != "connected" for c in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        connected = all(c.pc.connectionState == "connected" for c in clients)
        for client in clients:
            client.learn_srtp_tag()
        await asyncio.sleep(warmup)
        before = [c.counter.snapshot() for c in clients]
        cpu0, rcpu0 = await server.ask(op="cpu"), time.process_time()
        await asyncio.sleep(window)
        cpu1, rcpu1 = await server.ask(op="cpu"), time.process_time()
        after = [c.counter.snapshot() for c in clients]
        wall = cpu1["wall"] - cpu0["wall"]
        return Result(
            design=design,
            tier=tier_name,
            codec=codec,
            sessions=n,
            server_cpu=(cpu1["cpu"] - cpu0["cpu"]) / wall,
            server_waited=(cpu1["waited"] - cpu0["waited"]) / wall,
            receiver_cpu=(rcpu1 - rcpu0) / wall,
            kbps=[(a[0] - b[0]) * 8 / wall / 1000 for a, b in zip(after, before, strict=True)],
            fps=[(a[1] - b[1]) / wall for a, b in zip(after, before, strict=True)],
            skipped=cpu1["skipped"] - cpu0["skipped"],
            connected=connected,
        )
    finally:
        await asyncio.gather(*(c.pc.close() for c in clients), return_exceptions=True)
        await server.stop()


def describe(r: Result) -> str:
    return (
        f"{r.design:6} {r.tier:6} {r.codec:4} n={r.sessions:<4} server {100 * r.server_cpu:5.1f}% of a core "
        f"({100 * r.cpu_per_session:5.2f}%/session, waited for CPU {100 * r.server_waited:4.1f}%); "
        f"receiver {100 * r.receiver_cpu:5.1f}%; kbps min/mean {min(r.kbps, default=0):5.0f}/"
        f"{sum(r.kbps) / max(1, len(r.kbps)):5.0f}; fps min {min(r.fps, default=0):4.1f}; skipped {r.skipped}"
        + ("" if r.connected else "; NOT ALL CONNECTED")
    )


async def phase_cpu(args: argparse.Namespace) -> dict[str, float]:
    print(f"## CPU per session (window {args.window:.0f} s; replay n={args.replay_sessions}, live n=1)")
    per_session: dict[str, float] = {}
    rows = []
    for codec in args.codecs:
        for name in args.tiers:
            replay = await measure("replay", name, codec, args.replay_sessions, args.window, args.warmup)
            print(describe(replay))
            live = await measure("live", name, codec, 1, args.window, args.warmup)
            print(describe(live))
            ratio = live.cpu_per_session_at_full_rate / max(replay.cpu_per_session, 1e-9)
            print(f"-> {name} {codec}: replay is {ratio:.0f}x cheaper than live encoding (target >= 30x)")
            per_session[f"{name}/{codec}"] = replay.cpu_per_session
            rows.append(
                f"| {name} | {codec} | {100 * replay.cpu_per_session:.2f}% | {min(replay.kbps):.0f} | "
                f"{100 * live.cpu_per_session:.0f}% at {sum(live.fps) / len(live.fps):.1f} fps | "
                f"{100 * live.cpu_per_session_at_full_rate:.0f}% | {ratio:.0f}x |"
            )
    print("\n| tier | codec | replay CPU/session | replay kbps (min) | live CPU/session | live at 25 fps | ratio |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows) + "\n")
    return per_session


async def phase_capacity(args: argparse.Namespace, tiers: dict[str, Tier], estimate: float | None) -> None:
    tier = tiers[args.search_tier]
    print(f"## Sessions per core: {args.search_tier} tier, {args.search_codec}, window {args.window:.0f} s")
    start = min(args.max_sessions, max(4, int(0.85 / estimate) if estimate else 40))
    lo, hi, n = 0, args.max_sessions + 1, start
    best: Result | None = None
    deadline = time.monotonic() + args.search_budget
    for _ in range(args.search_steps):
        result = await measure("replay", args.search_tier, args.search_codec, n, args.window, args.warmup)
        ok = result.passes(tier.bitrate_kbps, tier.fps)
        if not ok and result.server_waited > CONTENDED:  # other jobs had the CPU: measure once more
            print("CONTENDED " + describe(result))
            result = await measure("replay", args.search_tier, args.search_codec, n, args.window, args.warmup)
            ok = result.passes(tier.bitrate_kbps, tier.fps)
        print(("PASS " if ok else "FAIL ") + describe(result))
        if ok:
            lo, best = n, result
        else:
            hi = n
        if hi - lo <= max(2, lo // 20) or time.monotonic() > deadline:
            break
        n = (lo + hi) // 2 if hi <= args.max_sessions else min(args.max_sessions, math.ceil(n * 1.4))
        if n in (lo, hi):
            break
    if best is None:
        print("-> no session count passed")
        return
    print(
        f"-> {best.sessions} concurrent {args.search_tier}-tier sessions passed on one server process "
        f"({100 * best.server_cpu:.0f}% of a core busy, {100 * best.server_waited:.0f}% waiting for a CPU; "
        f"about {best.sessions / max(best.server_cpu, 1e-9):.0f} per fully used core; target >= 80)"
    )


async def main(args: argparse.Namespace) -> None:
    tiers = Settings().tiers
    print(f"# media_sessions benchmark, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    estimates = await phase_cpu(args) if not args.skip_cpu else {}
    if not args.skip_search:
        await phase_capacity(args, tiers, estimates.get(f"{args.search_tier}/{args.search_codec}"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter windows, VP8 only, fewer search steps")
    parser.add_argument("--tiers", default="low,medium,high")
    parser.add_argument("--codecs", default=None, help="default VP8,H264 (VP8 with --quick)")
    parser.add_argument("--window", type=float, default=None, help="measurement window, s (default 8, quick 4)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--replay-sessions", type=int, default=None, help="default 20 (quick 10)")
    parser.add_argument("--search-tier", default="high")
    parser.add_argument("--search-codec", default="VP8")
    parser.add_argument("--max-sessions", type=int, default=160)
    parser.add_argument("--search-steps", type=int, default=None, help="default 6 (quick 4)")
    parser.add_argument("--search-budget", type=float, default=600.0, help="seconds for the search phase")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    args.tiers = args.tiers.split(",")
    args.codecs = (args.codecs or ("VP8" if args.quick else "VP8,H264")).split(",")
    args.window = args.window or (4.0 if args.quick else 8.0)
    args.replay_sessions = args.replay_sessions or (10 if args.quick else 20)
    args.search_steps = args.search_steps or (4 if args.quick else 6)
    return args


if __name__ == "__main__":
    arguments = parse_args()
    asyncio.run(serve() if arguments.serve else main(arguments))
