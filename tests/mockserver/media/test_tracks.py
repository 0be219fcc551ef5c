"""Replay tracks: slots from one epoch, continuous timestamps, switches and keyframe requests at keyframes."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest
from aiortc.mediastreams import MediaStreamError

from mockserver.media.clips import AudioClips, EncodedClip, VideoClips
from mockserver.media.tracks import (
    EPOCH_GRID_S,
    MAX_LAG_S,
    AudioReplayTrack,
    ReplayState,
    VideoReplayTrack,
)

FPS = 50


START_CODE = b"\x00\x00\x00\x01"


def video_clips(frames: int = 8, gop: int = 4, codec: str = "H264") -> VideoClips:
    """Fake clips whose frames are single NAL units (H264) or bytes (VP8) named like ``i3`` / ``t3``."""
    prefix = START_CODE if codec == "H264" else b""

    def clip(kind: str) -> EncodedClip:
        return EncodedClip(
            packets=tuple(prefix + f"{kind}{i}".encode() for i in range(frames)),
            keyframes=tuple(i % gop == 0 for i in range(frames)),
            packet_seconds=1 / FPS,
        )

    return VideoClips(codec, 64, 64, FPS, 500, None, clip("i"), clip("t"))  # type: ignore[arg-type]


def audio_clips() -> AudioClips:
    def clip(kind: str) -> EncodedClip:
        return EncodedClip(tuple(f"{kind}{i}".encode() for i in range(5)), (True,) * 5, 0.02)

    return AudioClips(clip("i"), clip("t"))


def take(track: VideoReplayTrack | AudioReplayTrack, n: int) -> list[tuple[bytes, int]]:
    """Take n frames, each exactly when due; (payload, timestamp) pairs."""
    out = []
    for _ in range(n):
        payloads, timestamp = track.take(track.next_due(0.0))
        out.append((b"".join(payloads), timestamp))
    return out


def test_epoch_sits_on_the_grid_and_is_shared() -> None:
    state = ReplayState()
    video, audio = VideoReplayTrack(video_clips(), state), AudioReplayTrack(audio_clips(), state)
    assert video.next_due(10.005) == pytest.approx(10.02)
    assert audio.next_due(11.0) == pytest.approx(10.02)  # same epoch for the peer's other track
    assert pytest.approx(round(10.02 / EPOCH_GRID_S)) == (10.02 / EPOCH_GRID_S)


def test_video_loops_with_continuous_timestamps_and_switches_at_keyframes() -> None:
    state = ReplayState()
    track = VideoReplayTrack(video_clips(), state)
    first = take(track, 6)
    state.talking = True  # the next keyframe is index 0 after the wrap
    rest = take(track, 8)
    state.talking = False
    tail = take(track, 6)
    assert [p for p, _ in first + rest + tail] == [
        b"i0", b"i1", b"i2", b"i3", b"i4", b"i5",
        b"i6", b"i7", b"t0", b"t1", b"t2", b"t3", b"t4", b"t5",
        b"t6", b"t7", b"i0", b"i1", b"i2", b"i3",
    ]  # fmt: skip
    assert [t for _, t in first + rest + tail] == [i * 90000 // FPS for i in range(20)]
    assert track.keyframes_sent == 5 and track.frames_sent == 20


def test_keyframe_request_skips_forward_to_the_next_keyframe() -> None:
    track = VideoReplayTrack(video_clips(), ReplayState())
    take(track, 2)  # i0 i1
    track.request_keyframe()
    assert [p for p, _ in take(track, 2)] == [b"i4", b"i5"]
    take(track, 1)  # i6
    track.request_keyframe()
    assert [p for p, _ in take(track, 1)] == [b"i0"]  # wraps to the clip start
    track.request_keyframe()
    assert [p for p, _ in take(track, 1)] == [b"i4"]
    assert track.keyframe_requests == 3


def test_vp8_frames_get_descriptors_with_a_rising_picture_id() -> None:
    track = VideoReplayTrack(video_clips(codec="VP8"), ReplayState())
    (a,), _ = track.take(track.next_due(0.0))
    (b,), _ = track.take(track.next_due(0.0))
    assert a[:2] == b[:2] == b"\x90\x80" and a[4:] == b"i0" and b[4:] == b"i1"
    assert (int.from_bytes(b[2:4], "big") & 0x7FFF) == ((int.from_bytes(a[2:4], "big") & 0x7FFF) + 1) & 0x7FFF


def test_audio_switches_on_the_next_packet_and_keeps_its_timeline() -> None:
    state = ReplayState()
    track = AudioReplayTrack(audio_clips(), state)
    got = take(track, 3)
    state.talking = True
    got += take(track, 4)
    assert [p for p, _ in got] == [b"i0", b"i1", b"i2", b"t3", b"t4", b"t0", b"t1"]
    assert [t for _, t in got] == [960 * i for i in range(7)]


def test_a_late_track_skips_missed_slots_instead_of_bursting() -> None:
    track = VideoReplayTrack(video_clips(), ReplayState())
    start = track.next_due(100.0)
    track.take(start)
    late = start + MAX_LAG_S + 0.105  # as if the loop had stalled
    _, timestamp = track.take(late)
    slot = timestamp * FPS // 90000
    assert slot == int((late - start) * FPS)
    assert track.slots_skipped == slot - 1 and track.next_due(late) > late
    # A small delay is caught up frame by frame instead.
    behind = track.next_due(late) + 0.05
    caught_up = 0
    while track.next_due(behind) <= behind:
        track.take(behind)
        caught_up += 1
    assert caught_up == 3 and track.slots_skipped == slot - 1


async def test_stock_recv_paces_and_stops() -> None:
    loop = asyncio.get_running_loop()
    state = ReplayState()
    track = VideoReplayTrack(video_clips(), state)
    packets = [await track.recv() for _ in range(6)]
    assert state.epoch is not None and loop.time() - state.epoch == pytest.approx(5 / FPS, abs=0.03)
    assert [bytes(p) for p in packets] == [START_CODE + f"i{i}".encode() for i in range(6)]
    assert [p.pts for p in packets] == list(range(6)) and packets[0].time_base == Fraction(1, FPS)
    audio = await AudioReplayTrack(audio_clips(), state).recv()
    assert audio.pts is not None and audio.time_base == Fraction(1, 48000)
    assert bytes(audio) == f"i{audio.pts // 960 % 5}".encode()
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await waiting
    with pytest.raises(MediaStreamError):
        await track.recv()
