"""The receiver's pieces without a peer: RTP meters and the count-mode tap, freezes, the frame counter reader."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from harness.media import RtpMeter, RtpTap, VideoMeter, WireTap, read_counter
from mockserver.media.clips import ClipRenderer


def rtp(seq: int, ts: int, pt: int = 96, marker: bool = False, payload: bytes = b"x" * 100, **kw: int) -> bytes:
    first = 0x80 | (0x10 if kw.get("ext") else 0) | (0x20 if kw.get("pad") else 0)
    header = struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq, ts, 1234)
    if kw.get("ext"):
        header += struct.pack("!HH", 0xBEDE, 1) + b"\x10\x01\x00\x00"
    padding = b"\x00\x00\x03" if kw.get("pad") else b""
    return header + payload + padding


def test_meter_counts_loss_wraps_and_frames() -> None:
    frames: list[float] = []
    meter = RtpMeter(90_000, on_frame=frames.append)
    seqs = [65533, 65534, 65535, 0, 2, 3]  # wraps, and 1 is lost
    for i, seq in enumerate(seqs):
        meter.count(seq, 3000 * i, i % 2, b"y" * 50, now=i * 0.04)
    meter.count(65534, 3000, 0, b"y" * 50, now=0.3)  # a late duplicate is counted but moves nothing
    assert (meter.packets, meter.bytes, meter.expected, meter.lost) == (7, 350, 7, 0)
    assert len(frames) == 3
    fresh = RtpMeter(90_000)
    for i, seq in enumerate([10, 11, 14]):
        fresh.count(seq, 3000 * i, 0, b"", now=i * 0.04)
    assert (fresh.expected, fresh.lost) == (5, 2)


def test_jitter_follows_rfc3550() -> None:
    steady, shaky = RtpMeter(90_000), RtpMeter(90_000)
    for i in range(50):
        steady.count(i, 3600 * i, 1, b"", now=i * 0.04)
        shaky.count(i, 3600 * i, 1, b"", now=i * 0.04 + (0.01 if i % 2 else 0.0))
    assert steady.jitter_ms == pytest.approx(0, abs=0.01)
    assert 5 < shaky.jitter_ms < 10.5


async def test_tap_routes_by_payload_type_and_finds_the_payload() -> None:
    video, audio = RtpMeter(90_000), RtpMeter(48_000)
    payloads: list[bytes] = []
    audio.on_packet = lambda payload, at: payloads.append(payload)
    tap = RtpTap({96: video, 111: audio})
    await tap(rtp(1, 0, 96, marker=True, ext=1))
    await tap(rtp(2, 0, 96, pad=1))
    await tap(rtp(7, 960, 111, payload=b"opus"))
    await tap(rtp(3, 0, 97))  # RTX: dropped
    await tap(b"\x80\x60")  # runt: ignored
    assert (video.packets, video.bytes) == (2, 200)
    assert payloads == [b"opus"]


def test_freezes_count_long_gaps_once() -> None:
    meter = VideoMeter()
    for t in (0.0, 0.04, 0.08, 0.5, 0.54):
        meter.frame(t)
    assert (meter.frames, meter.freezes) == (5, 1)
    assert meter.max_gap == pytest.approx(0.42)
    meter.close_open_gap(1.0)
    meter.close_open_gap(1.5)
    meter.frame(1.6)
    assert meter.freezes == 2


@pytest.mark.parametrize(("width", "height"), [(854, 480), (1280, 720)])
def test_counter_reader_agrees_with_the_mock(width: int, height: int) -> None:
    renderer = ClipRenderer(width, height, 25)
    for index, talking in ((0, False), (37, True), (49, False)):
        yuv = renderer.frame(index, talking)
        assert read_counter(yuv[:height]) == index
    assert read_counter(np.full((height, width), 128, np.uint8)) is None


class _Dtls:
    """What WireTap reads of a DTLS transport: the SRTP profile it negotiated."""

    class _ssl:  # mirrors the private attribute
        @staticmethod
        def get_selected_srtp_profile() -> bytes:
            return b"SRTP_AES128_CM_SHA1_80"


def test_wire_tap_counts_srtp_headers_and_passes_the_rest_on() -> None:
    video, audio = RtpMeter(90_000), RtpMeter(48_000)
    passed: list[bytes] = []
    tap = WireTap({96: video, 111: audio}, lambda data, component: passed.append(data), _Dtls())
    tag = b"T" * 10
    tap(rtp(1, 0, 96, marker=True, ext=1) + tag, 1)
    tap(rtp(2, 3000, 96) + tag, 1)
    tap(rtp(7, 960, 111, payload=b"opus") + tag, 1)
    tap(rtp(3, 0, 97) + tag, 1)  # RTX: dropped
    stun, dtls, rtcp = b"\x00\x01" + b"\x00" * 18, b"\x16\xfe\xfd" + b"\x00" * 20, b"\x80\xc9" + b"\x00" * 20
    for data in (stun, dtls, rtcp, b"\x80\x60"):
        tap(data, 1)
    assert (video.packets, video.bytes, video.lost) == (2, 200, 0)
    assert (audio.packets, audio.bytes) == (1, 4)
    assert passed == [stun, dtls, rtcp, b"\x80\x60"]
