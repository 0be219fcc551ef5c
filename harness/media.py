"""The WebRTC receiver: an aiortc peer that takes the avatar's video, audio and events and measures them.

Receive modes. ``decode`` is a real player: aiortc's receivers reassemble and decode every video and audio
frame (in their decoder threads); a meter stands in front of each receiver's jitter buffer to see every RTP
packet, and the decoded video frames' burned-in counter is checked. ``count`` (and ``None``) is a load-test
client: aiortc would decode every frame even if nobody reads the track, so RTP is taken off the DTLS
transport right after SRTP decryption, before aiortc's receivers: video packets are only counted (bytes,
sequence numbers, frame boundaries), audio is decoded in place (``count``, for speech onset) or only counted
(``None``). That spares per packet aiortc's parsing, receiver bookkeeping and a thread hop. ``wire`` goes one
step further for holding many sessions per client core: RTP is counted from its clear-text header straight off
the ICE socket, never decrypted (video metrics only; audio is counted, so no speech onset).

RTP loss and jitter are computed per stream with RFC 3550's formulas (the ones behind a receiver report).
All times are ``time.perf_counter()`` values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from avatar_contract.models import IceServer
from harness.errors import MediaError, MediaTimeout
from harness.onset import SpeechDetector, Transition, rms_dbfs

log = logging.getLogger(__name__)

ReceiveMode = Literal["count", "decode", "wire"]

#: A gap between video frames longer than this is a freeze (docs/metrics.md).
FREEZE_GAP_S = 0.200
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
#: Socket receive buffer asked for (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER_BYTES = 1 << 20
#: Count mode, idle audio: decode one packet in this many (enough to follow the noise floor).
IDLE_DECODE_EVERY = 5
#: aiortc's private name for an RTCRtpReceiver's jitter buffer (aiortc 1.16).
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RTP_HEADER = struct.Struct("!BBHI")
#: Wire mode: the SRTP authentication tag after each packet's (encrypted) payload, by negotiated profile.
SRTP_TAG_BYTES = {b"SRTP_AEAD_AES_256_GCM": 16, b"SRTP_AEAD_AES_128_GCM": 16, b"SRTP_AES128_CM_SHA1_80": 10}


@dataclass(frozen=True, slots=True)
class MediaStats:
    """Received media over a span of time (a window, or the session so far)."""

    seconds: float
    frames: int
    bytes: int
    bitrate_kbps: float
    fps: float
    freezes: int
    max_gap_ms: float
    packets_received: int
    packets_lost: int
    packet_loss_percent: float
    jitter_ms: float
    audio_packets: int
    audio_packets_lost: int
    counter_jumps: int


class RtpMeter:
    """Counts one RTP stream: packets, payload bytes, loss (extended sequence numbers), jitter, frame ends.

    ``count`` takes header fields (the count-mode tap); ``add`` makes it a drop-in for an ``RTCRtpReceiver``'s
    jitter buffer (decode mode), passing each packet on to ``inner``. ``on_packet`` sees every payload,
    ``on_frame`` the packets that end a frame (marker bit).
    """

    def __init__(
        self,
        clock_rate: int,
        inner: Any = None,
        on_packet: Callable[[bytes, float], None] | None = None,
        on_frame: Callable[[float], None] | None = None,
    ) -> None:
        self.inner = inner
        self.clock_rate = clock_rate
        self.on_packet = on_packet
        self.on_frame = on_frame
        self.packets = 0
        self.bytes = 0
        self._base_seq: int | None = None
        self._max_seq = 0
        self._cycles = 0
        self._jitter = 0.0
        self._last_transit: float | None = None
        self._last_ts: int | None = None

    @property
    def capacity(self) -> int:
        return int(self.inner.capacity) if self.inner is not None else 0

    def add(self, packet: Any) -> tuple[bool, Any]:
        """The jitter buffer's interface: count, then hand the packet to the real buffer."""
        self.count(packet.sequence_number, packet.timestamp, packet.marker, packet.payload, time.perf_counter())
        return self.inner.add(packet)

    def count(self, seq: int, timestamp: int, marker: int, payload: bytes, now: float) -> None:
        self.packets += 1
        self.bytes += len(payload)
        if self._base_seq is None:
            self._base_seq = self._max_seq = seq
        else:
            delta = (seq - self._max_seq) & 0xFFFF
            if 0 < delta < 0x8000:  # in order (possibly after a gap)
                if seq < self._max_seq:
                    self._cycles += 1 << 16
                self._max_seq = seq
                self._update_jitter(now, timestamp)
        if self.on_packet is not None:
            self.on_packet(payload, now)
        if marker and self.on_frame is not None:
            self.on_frame(now)

    def _update_jitter(self, now: float, timestamp: int) -> None:
        # RFC 3550 A.8, over packets that start a new frame (a frame's packets share one timestamp).
        if timestamp == self._last_ts:
            return
        transit = now * self.clock_rate - timestamp
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            if d < self.clock_rate * 10:  # ignore timestamp wraps and clip jumps
                self._jitter += (d - self._jitter) / 16
        self._last_transit, self._last_ts = transit, timestamp

    @property
    def expected(self) -> int:
        return 0 if self._base_seq is None else self._cycles + self._max_seq - self._base_seq + 1

    @property
    def lost(self) -> int:
        return max(self.expected - self.packets, 0)

    @property
    def jitter_ms(self) -> float:
        return self._jitter / self.clock_rate * 1000


class VideoMeter:
    """Frame arrival times -> frame count, fps and freezes; windows are cut with ``snapshot``."""

    def __init__(self) -> None:
        self.frames = 0
        self.first: float | None = None
        self.last: float | None = None
        self.freezes = 0
        self.max_gap = 0.0
        self._gap_counted = False
        self.on_first: Callable[[float], None] | None = None

    def frame(self, at: float) -> None:
        if self.last is None:
            self.first = at
            if self.on_first is not None:
                self.on_first(at)
        else:
            gap = at - self.last
            self.max_gap = max(self.max_gap, gap)
            if gap > FREEZE_GAP_S and not self._gap_counted:
                self.freezes += 1
        self._gap_counted = False
        self.frames += 1
        self.last = at

    def close_open_gap(self, now: float) -> None:
        """Count a freeze still going on at ``now`` (the stream may never resume); only once."""
        if self.last is not None and now - self.last > FREEZE_GAP_S and not self._gap_counted:
            self.freezes += 1
            self.max_gap = max(self.max_gap, now - self.last)
            self._gap_counted = True


class FrameCounterCheck:
    """Reads the counter the mock burns into every frame and counts jumps (lost, skipped or reordered frames).

    The strip layout is the mock's (``mockserver.media.clips``): the bottom 1/12 of the picture,
    20 equal cells: sync bits 1 0, 16 counter bits (MSB first), a talking bit, an even-parity bit.
    Reimplemented here because the harness does not import the mock.
    """

    CELLS = 20

    def __init__(self) -> None:
        self.last: int | None = None
        self.jumps = 0

    def feed(self, luma: np.ndarray) -> int | None:
        counter = read_counter(luma)
        if counter is None:
            return None
        if self.last is not None and counter != self.last + 1 and counter != 0:
            self.jumps += 1
        self.last = counter
        return counter


def read_counter(luma: np.ndarray) -> int | None:
    """The frame counter in a luma plane (height x width), or None when the strip is missing/unreadable."""
    h, w = luma.shape
    strip = max(8, h // 12) & ~1
    top, bottom = h - strip + strip // 4, h - strip // 4
    cells = FrameCounterCheck.CELLS
    bits = []
    for c in range(cells):
        x0, x1 = c * w // cells, (c + 1) * w // cells
        span = x1 - x0
        level = float(luma[top:bottom, x0 + span // 4 : x1 - span // 4].mean())
        if 90 < level < 160:
            return None
        bits.append(int(level >= 160))
    data = bits[2:-1]
    if bits[:2] != [1, 0] or sum(data) & 1 != bits[-1]:
        return None
    counter = 0
    for bit in data[:16]:
        counter = counter << 1 | bit
    return counter


def _payload_start(data: bytes, first: int) -> int:
    """Where an RTP packet's payload starts: after the CSRCs and the header extension (``first``: byte 0)."""
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10 and len(data) >= start + 4:
        start += 4 + 4 * int.from_bytes(data[start + 2 : start + 4], "big")
    return start


class RtpTap:
    """Count mode: stands in for a DTLS transport's RTP handler, so decrypted RTP reaches our meters instead of
    aiortc's receivers. Payload types route packets to meters; others (RTX: nothing was NACKed) are dropped."""

    def __init__(self, routes: dict[int, RtpMeter]) -> None:
        self.routes = routes

    async def __call__(self, data: bytes, arrival_time_ms: int = 0) -> None:
        if len(data) < 12:
            return
        first, second, seq, timestamp = _RTP_HEADER.unpack_from(data)
        meter = self.routes.get(second & 0x7F)
        if meter is None:
            return
        start = _payload_start(data, first)
        end = len(data) - (data[-1] if first & 0x20 else 0)  # padding
        if start <= end:
            meter.count(seq, timestamp, second >> 7, data[start:end], time.perf_counter())


class WireTap:
    """Wire mode: stands in for an ICE connection's ``data_received``. SRTP leaves the RTP header in clear
    text, so RTP is counted off the socket and dropped, never decrypted; STUN, DTLS and RTCP go on to aiortc.

    Payloads stay encrypted: meters see their length (the tag taken off), which is all video needs; audio
    packets are counted, not decoded. Packets are not authenticated either: a load client, not a verifier.
    """

    def __init__(self, routes: dict[int, RtpMeter], original: Callable[[bytes, int], None], dtls: Any) -> None:
        self.routes = routes
        self.original = original
        self.dtls = dtls
        self.tag_bytes: int | None = None

    def __call__(self, data: bytes, component: int) -> None:
        if len(data) < 12 or not 127 < data[0] < 192 or 192 <= data[1] <= 223:
            self.original(data, component)  # STUN, DTLS, RTCP (packet types 192-223)
            return
        meter = self.routes.get(data[1] & 0x7F)
        if meter is None:
            return
        if self.tag_bytes is None:  # SRTP flows only once DTLS has chosen its profile
            self.tag_bytes = self._tag_bytes()
        first, second, seq, timestamp = _RTP_HEADER.unpack_from(data)
        start = _payload_start(data, first)
        end = len(data) - self.tag_bytes
        if start <= end:
            meter.count(seq, timestamp, second >> 7, data[start:end], time.perf_counter())

    def _tag_bytes(self) -> int:
        try:
            return SRTP_TAG_BYTES.get(self.dtls._ssl.get_selected_srtp_profile(), 16)
        except Exception:  # aiortc's private DTLS state changed: assume the longer (GCM) tag
            return 16


class MediaReceiver:
    """One aiortc peer connection receiving an avatar stream, with its meters and the event channel."""

    def __init__(
        self,
        ice_servers: list[IceServer],
        mode: ReceiveMode | None = "count",
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_drop: Callable[[str], None] | None = None,
        on_milestone: Callable[[str, float], None] | None = None,
    ) -> None:
        servers = [RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in ice_servers]
        # An explicit list, even empty: with None aiortc would use a public STUN server.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.mode = mode
        self.on_event = on_event
        self.on_drop = on_drop
        self.on_milestone = on_milestone
        #: Set before closing on purpose: a closing peer is then not reported as dropped.
        self.closing = False
        self.video = VideoMeter()
        self.counter = FrameCounterCheck()
        self.detector = SpeechDetector()
        self.video_rtp: RtpMeter | None = None
        self.audio_rtp: RtpMeter | None = None
        self.ice_connected_at: float | None = None
        self.connected_at: float | None = None
        self.first_audio_at: float | None = None
        self.transitions: list[Transition] = []
        self.codec: str | None = None
        self._opus: Any = None
        self._listeners = 0
        self._audio_index = 0
        self._connected = asyncio.Event()
        self._first_frame = asyncio.Event()
        self._failed_event = asyncio.Event()
        self._failed: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiters: list[tuple[str, asyncio.Future[Transition]]] = []
        self._window: _Snapshot | None = None
        self.video.on_first = self._on_first_frame
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("iceconnectionstatechange", self._on_ice_state)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # --- negotiation ---

    async def answer(self, offer_sdp: str) -> str:
        """v1 flow: take the server's offer, return our answer (candidates included: aiortc gathers first)."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._negotiated()
        return self.pc.localDescription.sdp

    async def offer(self) -> str:
        """Seed flow: offer to receive video and audio, with a data channel for the events."""
        self.pc.addTransceiver("video", direction="recvonly")
        self.pc.addTransceiver("audio", direction="recvonly")
        self._on_datachannel(self.pc.createDataChannel("events"))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept_answer(self, answer_sdp: str) -> None:
        """Seed flow: the server's answer to our offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        self._negotiated()

    # --- waiting ---

    async def wait_connected(self, timeout: float) -> float:
        """Until ICE and DTLS are up; returns when (perf_counter)."""
        await self._wait(self._connected, timeout, "peer connection")
        assert self.connected_at is not None
        return self.connected_at

    async def wait_first_frame(self, timeout: float) -> float:
        await self._wait(self._first_frame, timeout, "first video frame")
        assert self.video.first is not None
        return self.video.first

    async def wait_transition(
        self, kind: Literal["onset", "offset"], after: float, timeout: float
    ) -> Transition | None:
        """The first speech onset/offset at or after ``after`` (or the next one detected), None on timeout."""
        for transition in self.transitions:
            if transition.kind == kind and transition.at >= after:
                return transition
        future: asyncio.Future[Transition] = asyncio.get_running_loop().create_future()
        entry = (kind, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    @property
    def talking(self) -> bool:
        """True while the received audio is speech."""
        return self.detector.talking

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        """Decode every audio packet while a speech measurement waits; enter it before sending the request.

        In count mode idle audio is otherwise only sampled (one packet in ``IDLE_DECODE_EVERY``), which is
        enough for the noise floor and spares most of the decoding while nothing is said.
        """
        self._listeners += 1
        try:
            yield
        finally:
            self._listeners -= 1

    async def _wait(self, event: asyncio.Event, timeout: float, what: str) -> None:
        if self._failed is not None and not event.is_set():
            raise MediaError(f"media: peer connection {self._failed} before {what}")
        waiter = asyncio.ensure_future(event.wait())
        failed = asyncio.ensure_future(self._failed_event.wait())
        try:
            await asyncio.wait({waiter, failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            failed.cancel()
        if event.is_set():
            return
        if self._failed is not None:
            raise MediaError(f"media: peer connection {self._failed} before {what}")
        raise MediaTimeout(f"no {what} within {timeout:g}s")

    # --- stats ---

    def stats(self, window: bool = False) -> MediaStats:
        """Totals since the first frame; with ``window``, only since the previous window (and start a new one)."""
        now = time.perf_counter()
        self.video.close_open_gap(now)
        current = self._snapshot(now)
        start = _Snapshot(self.video.first if self.video.first is not None else now, 0, 0, 0, 0, 0, 0, 0)
        base = start
        if window:
            base = self._window or start
            self._window = current
        return _diff(base, current, self.video_rtp, self.counter.jumps, self.video.max_gap)

    @staticmethod
    def empty_stats() -> MediaStats:
        """The stats of a session that receives nothing."""
        return MediaStats(0.0, 0, 0, 0.0, 0.0, 0, 0.0, 0, 0, 0.0, 0.0, 0, 0, 0)

    def _snapshot(self, now: float) -> _Snapshot:
        video, audio = self.video_rtp, self.audio_rtp
        return _Snapshot(
            now,
            self.video.frames,
            video.bytes if video else 0,
            self.video.freezes,
            video.packets if video else 0,
            video.expected if video else 0,
            audio.packets if audio else 0,
            audio.expected if audio else 0,
        )

    # --- shutdown ---

    async def close(self) -> None:
        """Close the peer and stop our reader tasks; safe to call twice."""
        self.closing = True
        for task in list(self._tasks):
            task.cancel()
        await self.pc.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, future in self._waiters:
            future.cancel()

    # --- aiortc callbacks ---

    def _negotiated(self) -> None:
        """Codecs are known: note the video codec, and unless decoding put a tap in front of aiortc's receivers."""
        routes: dict[int, RtpMeter] = {}
        transports = set()
        for transceiver in self.pc.getTransceivers():
            codecs = [c for c in transceiver._codecs if not c.mimeType.lower().endswith("/rtx")]
            if not codecs:
                continue
            if transceiver.kind == "video":
                self.codec = codecs[0].mimeType.split("/")[-1].upper()
            if self.mode == "decode":
                continue
            if transceiver.kind == "video":
                meter = self.video_rtp = RtpMeter(VIDEO_CLOCK, on_frame=self.video.frame)
            else:
                if self.mode == "count":
                    self._opus = av.CodecContext.create("libopus", "r")
                meter = self.audio_rtp = RtpMeter(AUDIO_CLOCK, on_packet=self._audio_packet)
            routes.update((c.payloadType, meter) for c in codecs if c.payloadType is not None)
            transports.add(transceiver.receiver.transport)
        for transport in transports:
            if self.mode == "wire":
                connection = transport.transport._connection
                connection.data_received = WireTap(routes, connection.data_received, transport)  # type: ignore[method-assign]
            else:
                transport._handle_rtp_data = RtpTap(routes)  # type: ignore[method-assign]
        self._grow_receive_buffers()

    def _grow_receive_buffers(self) -> None:
        """Give the ICE sockets room for a second of media: with many sessions in one process, a busy moment of
        the loop should show as jitter, not as packets the kernel dropped (which would read as network loss)."""
        for transceiver in self.pc.getTransceivers():
            connection = transceiver.receiver.transport.transport._connection
            for protocol in connection._protocols:
                sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)

    def _on_track(self, track: MediaStreamTrack) -> None:
        """Decode mode: meter each receiver's packets on their way to its jitter buffer, and read its frames."""
        if self.mode != "decode":
            return
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track)
        if track.kind == "video":
            self.video_rtp = RtpMeter(VIDEO_CLOCK, inner=getattr(receiver, _JITTER_BUFFER))
            setattr(receiver, _JITTER_BUFFER, self.video_rtp)
            self._spawn(self._read_video(track))
        else:
            self.audio_rtp = RtpMeter(
                AUDIO_CLOCK, inner=getattr(receiver, _JITTER_BUFFER), on_packet=self._audio_packet
            )
            setattr(receiver, _JITTER_BUFFER, self.audio_rtp)
            self._spawn(self._read_audio(track))

    def _audio_packet(self, payload: bytes, at: float) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = at
            self._milestone("first_audio", at)
        if self._opus is None or not payload:
            return
        self._audio_index += 1
        if not (self._listeners or self.detector.talking or self._audio_index % IDLE_DECODE_EVERY == 0):
            return
        try:
            frames = self._opus.decode(av.Packet(payload))
        except av.FFmpegError:
            return
        for frame in frames:
            self._level(frame, at)

    def _level(self, frame: av.AudioFrame, at: float) -> None:
        transition = self.detector.feed(rms_dbfs(_pcm(frame)), at)
        if transition is not None:
            self._transition(transition)

    def _on_first_frame(self, at: float) -> None:
        self._first_frame.set()
        self._milestone("first_frame", at)

    def _milestone(self, name: str, at: float) -> None:
        if self.on_milestone is not None:
            self.on_milestone(name, at)

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        channel.on("message", self._on_message)

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            log.debug("ignoring a non-JSON data channel message")
            return
        if isinstance(event, dict) and self.on_event is not None:
            self.on_event(event)

    def _on_ice_state(self) -> None:
        if self.pc.iceConnectionState in ("connected", "completed") and self.ice_connected_at is None:
            self.ice_connected_at = time.perf_counter()
            self._milestone("ice_connected", self.ice_connected_at)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.connected_at is None:
            self.connected_at = time.perf_counter()
            self._connected.set()
        elif state in ("failed", "closed") and not self.closing:
            self._failed = state
            self._failed_event.set()
            if self.on_drop is not None:
                self.on_drop(state)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_video(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.video.frame(time.perf_counter())
                if isinstance(frame, av.VideoFrame):
                    plane = frame.planes[0]
                    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)
                    self.counter.feed(rows[:, : frame.width])

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self._level(frame, time.perf_counter())

    def _transition(self, transition: Transition) -> None:
        self.transitions.append(transition)
        del self.transitions[:-50]
        for kind, future in list(self._waiters):
            if kind == transition.kind and not future.done():
                future.set_result(transition)


def _pcm(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame's samples without a copy when they are packed s16 (what libopus gives aiortc and us)."""
    if frame.format.name == "s16":
        return np.frombuffer(memoryview(frame.planes[0]), np.int16, frame.samples * len(frame.layout.channels))
    return frame.to_ndarray()


@dataclass(frozen=True, slots=True)
class _Snapshot:
    at: float
    frames: int
    bytes: int
    freezes: int
    packets: int
    expected: int
    audio_packets: int
    audio_expected: int


def _diff(a: _Snapshot, b: _Snapshot, video: RtpMeter | None, counter_jumps: int, max_gap_s: float) -> MediaStats:
    seconds = max(b.at - a.at, 1e-9)
    expected = b.expected - a.expected
    received = b.packets - a.packets
    lost = max(expected - received, 0)
    return MediaStats(
        seconds=round(seconds, 3),
        frames=b.frames - a.frames,
        bytes=b.bytes - a.bytes,
        bitrate_kbps=(b.bytes - a.bytes) * 8 / seconds / 1000,
        fps=(b.frames - a.frames) / seconds,
        freezes=b.freezes - a.freezes,
        max_gap_ms=max_gap_s * 1000,
        packets_received=received,
        packets_lost=lost,
        packet_loss_percent=100 * lost / expected if expected > 0 else 0.0,
        jitter_ms=video.jitter_ms if video else 0.0,
        audio_packets=b.audio_packets - a.audio_packets,
        audio_packets_lost=max((b.audio_expected - a.audio_expected) - (b.audio_packets - a.audio_packets), 0),
        counter_jumps=counter_jumps,
    )
