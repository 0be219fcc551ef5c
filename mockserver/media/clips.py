"""Synthetic avatar clips: render with numpy, encode once with PyAV, cache on disk, replay many times.

Every (tier, codec) gets an idle and a talking video clip of the same length and keyframe layout, so a
track can switch between them at any keyframe without breaking the frame counter burned into the
picture. Audio is one pair of Opus clips shared by every tier.
"""

from __future__ import annotations

import asyncio
import fractions
import hashlib
import json
import logging
import math
import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import av
import numpy as np

from mockserver.config import MediaSettings, Tier
from mockserver.media.sdp import VideoCodec, h264_level

logger = logging.getLogger(__name__)

ClipKind = Literal["idle", "talking"]
KINDS: tuple[ClipKind, ...] = ("idle", "talking")

#: Bump when rendering or encoder settings change: it is part of every cache key.
CLIP_FORMAT_VERSION = 2
SYLLABLE_HZ = 4.0
AUDIO_RATE = 48000
AUDIO_PACKET_SAMPLES = 960  # 20 ms
AUDIO_BITRATE = 32000
#: How close an encoded clip must come to its tier's bitrate before the encoder is re-run.
BITRATE_TOLERANCE = 0.02
_CALIBRATION_ATTEMPTS = 4
_NOISE_AMPLITUDE = 6  # luma steps of per-frame noise: keeps VP8's CBR from undershooting on flat content
_NOISE_POOL = 17
_CELLS = 20  # counter strip: 2 sync cells, 16 counter bits, 1 talking bit, 1 parity bit
_COUNTER_BITS = 16
_WHITE, _BLACK = 235, 16
_MAGIC = b"SATCLIP1"


# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class EncodedClip:
    """Encoded packets of one looping clip (one packet per video frame / per 20 ms of audio)."""

    packets: tuple[bytes, ...]
    keyframes: tuple[bool, ...]
    packet_seconds: float

    def __post_init__(self) -> None:
        if not self.packets or len(self.packets) != len(self.keyframes) or not self.keyframes[0]:
            raise ValueError("a clip needs packets, one keyframe flag each, and a keyframe first")

    @property
    def bitrate_kbps(self) -> float:
        return sum(len(p) for p in self.packets) * 8 / (len(self.packets) * self.packet_seconds) / 1000


@dataclass(frozen=True)
class VideoClips:
    """The idle and talking clips for one (tier, codec); same length and keyframe positions."""

    codec: VideoCodec
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    h264_level: int | None
    idle: EncodedClip
    talking: EncodedClip

    def clip(self, kind: ClipKind) -> EncodedClip:
        return self.talking if kind == "talking" else self.idle


@dataclass(frozen=True)
class AudioClips:
    """Opus 48 kHz, 20 ms packets: comfort noise when idle, a speech-like signal when talking."""

    idle: EncodedClip
    talking: EncodedClip

    def clip(self, kind: ClipKind) -> EncodedClip:
        return self.talking if kind == "talking" else self.idle


@dataclass(frozen=True)
class FrameMarker:
    """What the strip at the bottom of every frame says: clip frame index and idle/talking."""

    counter: int
    talking: bool


# ----------------------------------------------------------------------------------------- rendering


def mouth_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the mouth at its widest: darker on average while talking."""
    cx, cy = width // 2, int(height * 0.60)
    rx, ry = int(height * 0.09), int(height * 0.07)
    return cx - rx, cy - ry, cx + rx, cy + ry


def mouth_openness(index: int, fps: int) -> float:
    """0 (closed) .. 1 (open) for a talking frame, in step with the audio's syllable envelope."""
    return 0.5 * (1 - math.cos(2 * math.pi * SYLLABLE_HZ * index / fps))


def _strip_height(height: int) -> int:
    return max(8, height // 12) & ~1


def _cell_edges(width: int) -> list[int]:
    return [c * width // _CELLS for c in range(_CELLS + 1)]


def _marker_bits(counter: int, talking: bool) -> list[int]:
    bits = [(counter >> (_COUNTER_BITS - 1 - b)) & 1 for b in range(_COUNTER_BITS)] + [int(talking)]
    return [1, 0, *bits, sum(bits) & 1]


class ClipRenderer:
    """Draws yuv420p frames of a face-like figure; static layers are computed once per clip size."""

    def __init__(self, width: int, height: int, fps: int) -> None:
        if width % 2 or height % 2:
            raise ValueError("clip width and height must be even (yuv420p)")
        self.width, self.height, self.fps = width, height, fps
        h, w = height, width
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        luma = 70 + 60 * xx / w + 20 * yy / h  # soft gradient backdrop
        face = ((xx - w / 2) / (h * 0.24)) ** 2 + ((yy - h * 0.47) / (h * 0.33)) ** 2 < 1
        luma[face] = 175
        for ex in (w / 2 - h * 0.10, w / 2 + h * 0.10):
            luma[((xx - ex) ** 2 + (yy - h * 0.38) ** 2) < (h * 0.035) ** 2] = 40
        self._luma = luma.astype(np.int16)
        self._strip = _strip_height(h)
        cu = np.full((h // 2, w // 2), 140, np.uint8)  # bluish backdrop
        cv = np.full((h // 2, w // 2), 118, np.uint8)
        half_face = face[::2, ::2]
        cu[half_face], cv[half_face] = 108, 156  # skin tone
        cu[(h - self._strip) // 2 :], cv[(h - self._strip) // 2 :] = 128, 128  # grey counter strip
        self._chroma = np.concatenate([cu.reshape(-1, w), cv.reshape(-1, w)])
        rng = np.random.default_rng(20240601)
        self._noise = rng.integers(-_NOISE_AMPLITUDE, _NOISE_AMPLITUDE + 1, size=(_NOISE_POOL, h, w), dtype=np.int8)
        x0, y0, x1, y1 = mouth_box(w, h)
        my, mx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self._mouth_slice = (slice(y0, y1), slice(x0, x1))
        self._mouth_dx2 = ((mx - w / 2) / (h * 0.085)) ** 2
        self._mouth_dy = my - h * 0.60

    def frame(self, index: int, talking: bool) -> np.ndarray:
        h, w = self.height, self.width
        out = np.empty((h * 3 // 2, w), np.uint8)
        y = out[:h]
        np.add(self._luma, self._noise[index % _NOISE_POOL], out=y, casting="unsafe")
        opening = mouth_openness(index, self.fps) if talking else 0.0
        ry = h * (0.008 + 0.055 * opening)
        mouth = self._mouth_dx2 + (self._mouth_dy / ry) ** 2 < 1
        y[self._mouth_slice][mouth] = 30
        edges = _cell_edges(w)
        for c, bit in enumerate(_marker_bits(index, talking)):
            y[h - self._strip :, edges[c] : edges[c + 1]] = _WHITE if bit else _BLACK
        out[h:] = self._chroma
        return out


def read_frame_marker(frame: av.VideoFrame) -> FrameMarker | None:
    """Decode the counter strip of a received frame; None when it is missing or unreadable."""
    luma: np.ndarray
    if frame.format.name in ("yuv420p", "yuvj420p", "nv12", "gray"):
        plane = frame.planes[0]
        luma = np.frombuffer(memoryview(plane), np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    else:
        luma = frame.to_ndarray(format="gray")
    h, w = luma.shape
    strip = _strip_height(h)
    top, bottom = h - strip + strip // 4, h - strip // 4
    edges = _cell_edges(w)
    bits = []
    for c in range(_CELLS):
        span = edges[c + 1] - edges[c]
        level = float(luma[top:bottom, edges[c] + span // 4 : edges[c + 1] - span // 4].mean())
        if 90 < level < 160:
            return None
        bits.append(int(level >= 160))
    data = bits[2:-1]
    if bits[:2] != [1, 0] or sum(data) & 1 != bits[-1]:
        return None
    counter = 0
    for bit in data[:_COUNTER_BITS]:
        counter = counter << 1 | bit
    return FrameMarker(counter=counter, talking=bool(data[_COUNTER_BITS]))


def read_frame_counter(frame: av.VideoFrame) -> int | None:
    """The clip frame index burned into ``frame``: +1 per frame, wrapping at the clip length.

    The idle and talking clips share the numbering, so the count stays continuous across switches;
    a keyframe request (PLI) skips forward to the next keyframe index.
    """
    marker = read_frame_marker(frame)
    return None if marker is None else marker.counter


def render_audio(kind: ClipKind, seconds: float) -> np.ndarray:
    """Mono float samples in [-1, 1] that loop seamlessly over ``seconds``."""
    n = round(seconds * AUDIO_RATE)
    rng = np.random.default_rng(7)
    if kind == "idle":
        return (rng.standard_normal(n) * 10 ** (-66 / 20)).astype(np.float32)  # about -66 dBFS
    t = np.arange(n) / AUDIO_RATE
    # Whole cycles per loop, so the wrap is inaudible: voiced harmonics under two formant bumps.
    f0 = round(120 * seconds) / seconds
    syllable = max(1, round(SYLLABLE_HZ * seconds)) / seconds
    voice = np.zeros(n)
    for k in range(1, 26):
        f = k * f0
        weight = math.exp(-(((f - 700) / 250) ** 2)) + 0.6 * math.exp(-(((f - 1200) / 300) ** 2)) + 0.15 / k
        voice += weight * np.sin(2 * np.pi * f * t + k)
    envelope = (0.5 * (1 - np.cos(2 * np.pi * syllable * t))) ** 0.8
    signal = voice * envelope + 0.02 * rng.standard_normal(n)
    signal *= 10 ** (-18 / 20) / np.sqrt(np.mean(signal**2))  # -18 dBFS RMS
    return np.clip(signal, -1, 1).astype(np.float32)


# ------------------------------------------------------------------------------------------ encoding


def _video_context(codec: VideoCodec, width: int, height: int, fps: int, bps: int, gop: int) -> av.VideoCodecContext:
    """CBR, no lookahead, no B-frames, no alt-ref: one packet per frame, in order."""
    if codec == "VP8":
        cc = cast(av.VideoCodecContext, av.CodecContext.create("libvpx", "w"))
        cc.qmin, cc.qmax = 4, 56
        cc.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
            "drop-threshold": "0",
            "static-thresh": "0",
            "minrate": str(bps),
            "maxrate": str(bps),
            "bufsize": str(bps),
            "undershoot-pct": "0",
            "overshoot-pct": "0",
        }
    else:
        level = h264_level(width, height, fps, bps // 1000)
        cc = cast(av.VideoCodecContext, av.CodecContext.create("libx264", "w"))
        cc.profile = "Baseline"
        cc.options = {
            "preset": "veryfast",
            "tune": "zerolatency",
            "level": f"{level // 10}.{level % 10}",
            "forced-idr": "1",
            "x264-params": (
                f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:repeat-headers=1:"
                f"vbv-maxrate={bps // 1000}:vbv-bufsize={max(1, bps // 3000)}"
            ),
        }
    cc.width, cc.height, cc.pix_fmt, cc.bit_rate = width, height, "yuv420p", bps
    cc.framerate = fractions.Fraction(fps)
    cc.time_base = fractions.Fraction(1, fps)
    cc.gop_size = gop
    cc.thread_count = 1  # threaded libvpx crawls on a busy machine; start-up runs two builds side by side instead
    return cc


def _encode_video_once(
    codec: VideoCodec, render: Callable[[int], np.ndarray], frames: int, spec: Tier, bps: int, gop: int
) -> EncodedClip:
    """Encode the clip twice in a row and keep the second pass: rate control is then settled."""
    cc = _video_context(codec, spec.width, spec.height, spec.fps, bps, gop)
    packets: list[av.Packet] = []
    for n in range(2 * frames):
        i = n % frames
        frame = av.VideoFrame.from_ndarray(render(i), format="yuv420p")
        frame.pts = n
        frame.pict_type = av.video.frame.PictureType.I if i % gop == 0 else av.video.frame.PictureType.NONE
        packets += cc.encode(frame)
    packets += cc.encode(None)
    if len(packets) != 2 * frames:
        raise RuntimeError(f"{codec} encoder made {len(packets)} packets for {2 * frames} frames")
    kept = packets[frames:]
    return EncodedClip(
        packets=tuple(bytes(p) for p in kept),
        keyframes=tuple(bool(p.is_keyframe) for p in kept),
        packet_seconds=1 / spec.fps,
    )


def encode_video(codec: VideoCodec, tier: Tier, kind: ClipKind, frames: int, gop: int) -> EncodedClip:
    """Encode one clip at the tier's bitrate, re-running the encoder until it lands within tolerance."""
    renderer = ClipRenderer(tier.width, tier.height, tier.fps)
    talking = kind == "talking"
    target = tier.bitrate_kbps * 1000
    bps = target
    best: EncodedClip | None = None
    for _ in range(_CALIBRATION_ATTEMPTS):
        clip = _encode_video_once(codec, lambda i: renderer.frame(i, talking), frames, tier, bps, gop)
        error = clip.bitrate_kbps * 1000 / target - 1
        if best is None or abs(error) < abs(best.bitrate_kbps * 1000 / target - 1):
            best = clip
        if abs(error) <= BITRATE_TOLERANCE:
            break
        bps = round(bps / (1 + error))
    assert best is not None
    return best


def encode_audio(kind: ClipKind, seconds: float) -> EncodedClip:
    """Opus, 20 ms packets; the signal is encoded twice and the second pass kept, so the loop is seamless."""
    packets_per_loop = round(seconds * AUDIO_RATE / AUDIO_PACKET_SAMPLES)
    samples = render_audio(kind, packets_per_loop * AUDIO_PACKET_SAMPLES / AUDIO_RATE)
    pcm = (np.tile(samples, 2) * 32767).astype(np.int16)
    cc = cast(av.AudioCodecContext, av.CodecContext.create("libopus", "w"))
    cc.sample_rate, cc.layout, cc.format, cc.bit_rate = AUDIO_RATE, "mono", "s16", AUDIO_BITRATE
    cc.time_base = fractions.Fraction(1, AUDIO_RATE)
    cc.options = {"application": "voip", "frame_duration": "20"}
    packets: list[av.Packet] = []
    for n in range(0, len(pcm), AUDIO_PACKET_SAMPLES):
        frame = av.AudioFrame.from_ndarray(pcm[None, n : n + AUDIO_PACKET_SAMPLES], format="s16", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, n
        packets += cc.encode(frame)
    packets += cc.encode(None)
    kept = packets[packets_per_loop : 2 * packets_per_loop]
    return EncodedClip(
        packets=tuple(bytes(p) for p in kept),
        keyframes=(True,) * len(kept),
        packet_seconds=AUDIO_PACKET_SAMPLES / AUDIO_RATE,
    )


# -------------------------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "streaming-avatar-testkit"


class ClipCache:
    """Encoded clips on disk, one file per clip, named by a hash of everything that shaped it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key(**params: object) -> str:
        params = {**params, "format": CLIP_FORMAT_VERSION, "av": av.__version__}
        return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]

    def path(self, name: str, key: str) -> Path:
        return self.directory / f"{name}-{key}.clip"

    def load(self, name: str, key: str) -> EncodedClip | None:
        path = self.path(name, key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            return _unpack(data)
        except (ValueError, struct.error):
            logger.warning("ignoring corrupt clip cache file %s", path)
            return None

    def store(self, name: str, key: str, clip: EncodedClip) -> None:
        """Write atomically (temp file + rename) so concurrent mocks never read half a file."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                f.write(_pack(clip))
            os.replace(tmp, self.path(name, key))
        except OSError as exc:
            logger.warning("clip cache %s not writable (%s); clips will be re-encoded next start", self.directory, exc)


def _pack(clip: EncodedClip) -> bytes:
    header = json.dumps({"count": len(clip.packets), "packet_seconds": clip.packet_seconds}).encode()
    parts = [_MAGIC, struct.pack("!I", len(header)), header]
    for packet, key in zip(clip.packets, clip.keyframes, strict=True):
        parts.append(struct.pack("!IB", len(packet), key))
        parts.append(packet)
    return b"".join(parts)


def _unpack(data: bytes) -> EncodedClip:
    if not data.startswith(_MAGIC):
        raise ValueError("not a clip file")
    pos = len(_MAGIC)
    (size,) = struct.unpack_from("!I", data, pos)
    header = json.loads(data[pos + 4 : pos + 4 + size])
    pos += 4 + size
    packets, keys = [], []
    for _ in range(int(header["count"])):
        length, key = struct.unpack_from("!IB", data, pos)
        pos += 5
        if pos + length > len(data):
            raise ValueError("truncated clip file")
        packets.append(data[pos : pos + length])
        keys.append(bool(key))
        pos += length
    return EncodedClip(packets=tuple(packets), keyframes=tuple(keys), packet_seconds=float(header["packet_seconds"]))


# ------------------------------------------------------------------------------------------ library


class ClipLibrary:
    """Builds (or loads) clips on first use and shares them; concurrent requests wait for one build."""

    def __init__(self, settings: MediaSettings) -> None:
        self._settings = settings
        self._cache = ClipCache(settings.cache_dir or default_cache_dir())
        self._builds: dict[tuple[object, ...], asyncio.Future[object]] = {}

    def frames(self, fps: int) -> int:
        return max(1, round(self._settings.clip_seconds * fps))

    def gop(self, fps: int) -> int:
        return max(1, round(self._settings.keyframe_interval_s * fps))

    async def video(self, tier: Tier, codec: VideoCodec) -> VideoClips:
        key = ("video", codec, tier.width, tier.height, tier.fps, tier.bitrate_kbps)
        result = await self._shared(key, lambda: self._build_video(tier, codec))
        assert isinstance(result, VideoClips)
        return result

    async def audio(self) -> AudioClips:
        result = await self._shared(("audio",), self._build_audio)
        assert isinstance(result, AudioClips)
        return result

    async def _shared(self, key: tuple[object, ...], build: Callable[[], object]) -> object:
        future = self._builds.get(key)
        if future is None:
            future = asyncio.ensure_future(asyncio.to_thread(build))
            self._builds[key] = future

            def forget_failed(done: asyncio.Future[object]) -> None:
                if done.cancelled() or done.exception() is not None:
                    self._builds.pop(key, None)  # let the next request retry

            future.add_done_callback(forget_failed)
        return await asyncio.shield(future)

    def _build_video(self, tier: Tier, codec: VideoCodec) -> VideoClips:
        frames, gop = self.frames(tier.fps), self.gop(tier.fps)
        level = h264_level(tier.width, tier.height, tier.fps, tier.bitrate_kbps) if codec == "H264" else None
        clips = {}
        for kind in KINDS:
            name = f"{codec.lower()}-{tier.width}x{tier.height}-{tier.fps}fps-{tier.bitrate_kbps}k-{kind}"
            key = self._cache.key(name=name, frames=frames, gop=gop, level=level)
            clip = self._cache.load(name, key)
            if clip is None:
                clip = encode_video(codec, tier, kind, frames, gop)
                self._cache.store(name, key, clip)
                logger.info("encoded %s: %.0f kbps", name, clip.bitrate_kbps)
            clips[kind] = clip
        return VideoClips(
            codec=codec,
            width=tier.width,
            height=tier.height,
            fps=tier.fps,
            bitrate_kbps=tier.bitrate_kbps,
            h264_level=level,
            idle=clips["idle"],
            talking=clips["talking"],
        )

    def _build_audio(self) -> AudioClips:
        clips = {}
        for kind in KINDS:
            name = f"opus-{kind}"
            key = self._cache.key(name=name, seconds=self._settings.clip_seconds, bitrate=AUDIO_BITRATE)
            clip = self._cache.load(name, key)
            if clip is None:
                clip = encode_audio(kind, self._settings.clip_seconds)
                self._cache.store(name, key, clip)
            clips[kind] = clip
        return AudioClips(idle=clips["idle"], talking=clips["talking"])
