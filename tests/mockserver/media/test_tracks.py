"""Replay tracks: pacing from one epoch, continuous timestamps, switches and keyframe requests at keyframes."""

from __future__ import annotations

import asyncio
import fractions

import pytest
from aiortc.mediastreams import MediaStreamError

from mockserver.media.clips import AudioClips, EncodedClip, VideoClips
from mockserver.media.tracks import MAX_LAG_S, AudioReplayTrack, ReplayState, VideoReplayTrack

FPS = 100  # fast clips keep the tests short


def video_clips(frames: int = 8, gop: int = 4) -> VideoClips:
    def clip(kind: str) -> EncodedClip:
        return EncodedClip(
            packets=tuple(f"{kind}{i}".encode() for i in range(frames)),
            keyframes=tuple(i % gop == 0 for i in range(frames)),
            packet_seconds=1 / FPS,
        )

    return VideoClips("VP8", 64, 64, FPS, 500, None, clip("i"), clip("t"))


def audio_clips() -> AudioClips:
    def clip(kind: str) -> EncodedClip:
        return EncodedClip(tuple(f"{kind}{i}".encode() for i in range(5)), (True,) * 5, 0.02)

    return AudioClips(clip("i"), clip("t"))


async def take(track: VideoReplayTrack | AudioReplayTrack, n: int) -> list[tuple[bytes, int]]:
    out = []
    for _ in range(n):
        packet = await track.recv()
        out.append((bytes(packet), int(packet.pts or 0)))
    return out


async def test_video_loops_with_continuous_pts_and_switches_at_keyframes() -> None:
    state = ReplayState()
    track = VideoReplayTrack(video_clips(), state)
    first = await take(track, 6)
    state.talking = True  # next keyframe is index 8 -> 0 (wrap)
    rest = await take(track, 8)
    state.talking = False
    tail = await take(track, 6)
    payloads = [p for p, _ in first + rest + tail]
    assert payloads == [
        b"i0", b"i1", b"i2", b"i3", b"i4", b"i5",
        b"i6", b"i7", b"t0", b"t1", b"t2", b"t3", b"t4", b"t5",
        b"t6", b"t7", b"i0", b"i1", b"i2", b"i3",
    ]  # fmt: skip
    pts = [p for _, p in first + rest + tail]
    assert pts == list(range(20))
    packet = await track.recv()
    assert packet.time_base == fractions.Fraction(1, FPS)
    assert track.keyframes_sent == 6 and track.packets_sent == 21


async def test_keyframe_request_skips_forward_to_the_next_keyframe() -> None:
    track = VideoReplayTrack(video_clips(), ReplayState())
    await take(track, 2)  # i0 i1
    track.request_keyframe()
    assert [p for p, _ in await take(track, 2)] == [b"i4", b"i5"]
    await take(track, 1)  # i6
    track.request_keyframe()
    assert [p for p, _ in await take(track, 1)] == [b"i0"]  # wraps to the clip start
    track.request_keyframe()
    assert [p for p, _ in await take(track, 1)] == [b"i4"]
    assert track.keyframe_requests == 3


async def test_pacing_follows_the_shared_epoch() -> None:
    loop = asyncio.get_running_loop()
    state = ReplayState()
    video = VideoReplayTrack(video_clips(), state)
    audio = AudioReplayTrack(audio_clips(), state)
    start = loop.time()
    await asyncio.gather(take(video, 21), take(audio, 6))
    elapsed = loop.time() - start
    assert 0.19 <= elapsed < 0.3  # 20 periods of 10 ms after the first frame; 5 audio periods of 20 ms
    assert state.epoch is not None and abs(state.epoch - start) < 0.01


async def test_audio_switches_on_the_next_packet_and_keeps_its_timeline() -> None:
    state = ReplayState()
    track = AudioReplayTrack(audio_clips(), state)
    got = await take(track, 3)
    state.talking = True
    got += await take(track, 4)
    assert [p for p, _ in got] == [b"i0", b"i1", b"i2", b"t3", b"t4", b"t0", b"t1"]
    assert [pts for _, pts in got] == [960 * i for i in range(7)]


async def test_a_late_track_skips_missed_slots_instead_of_bursting() -> None:
    state = ReplayState()
    track = VideoReplayTrack(video_clips(), state)
    await take(track, 1)
    assert state.epoch is not None
    state.epoch -= MAX_LAG_S + 0.1  # as if the loop had stalled
    _, pts = (await take(track, 1))[0]
    assert pts >= (MAX_LAG_S + 0.1) * FPS - 1
    assert track.slots_skipped == pts - 1


async def test_stopped_tracks_end_the_sender() -> None:
    track = VideoReplayTrack(video_clips(), ReplayState())
    await take(track, 1)
    waiting = asyncio.ensure_future(track.recv())
    track.stop()
    with pytest.raises(MediaStreamError):
        await waiting
    with pytest.raises(MediaStreamError):
        await track.recv()
