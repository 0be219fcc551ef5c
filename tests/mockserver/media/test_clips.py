"""Synthetic clips: the picture and sound, the burned-in counter, encoder output, bitrate per tier, disk cache."""

from __future__ import annotations

import asyncio
import itertools
import math
from pathlib import Path

import av
import numpy as np
import pytest

from mockserver.config import MediaSettings, Settings, Tier
from mockserver.media import read_frame_counter, read_frame_marker
from mockserver.media.clips import (
    AUDIO_PACKET_SAMPLES,
    AUDIO_RATE,
    ClipCache,
    ClipLibrary,
    ClipRenderer,
    EncodedClip,
    encode_audio,
    mouth_box,
    render_audio,
)
from mockserver.media.sdp import VideoCodec

TINY = Tier(width=320, height=180, bitrate_kbps=300)


def frame_of(array: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(array, format="yuv420p")


def test_marker_round_trips_and_survives_scaling() -> None:
    renderer = ClipRenderer(854, 480, 25)
    for index, talking in [(0, False), (1, True), (49, True), (12345, False)]:
        frame = frame_of(renderer.frame(index, talking))
        marker = read_frame_marker(frame)
        assert marker is not None and (marker.counter, marker.talking) == (index, talking)
        assert read_frame_counter(frame.reformat(width=427, height=240, format="rgb24")) == index


def test_unmarked_frames_read_as_none() -> None:
    grey = av.VideoFrame.from_ndarray(np.full((270, 320), 128, np.uint8), format="yuv420p")
    assert read_frame_counter(grey) is None
    rng = np.random.default_rng(1)
    noise = av.VideoFrame.from_ndarray(rng.integers(0, 256, (270, 320), dtype=np.uint8), format="yuv420p")
    assert read_frame_counter(noise) is None


def test_talking_opens_the_mouth() -> None:
    renderer = ClipRenderer(640, 360, 25)
    x0, y0, x1, y1 = mouth_box(640, 360)
    idle = [renderer.frame(i, False)[y0:y1, x0:x1].mean() for i in range(25)]
    talking = [renderer.frame(i, True)[y0:y1, x0:x1].mean() for i in range(25)]
    assert max(idle) - min(idle) < 2  # closed and still
    assert min(talking) < min(idle) - 60 and max(talking) - min(talking) > 50  # opens and closes


def test_audio_is_near_silent_idle_and_speech_like_talking() -> None:
    def dbfs(x: np.ndarray) -> float:
        return 20 * math.log10(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))))

    idle, talking = render_audio("idle", 2.0), render_audio("talking", 2.0)
    assert len(idle) == len(talking) == 2 * AUDIO_RATE
    assert dbfs(idle) < -60 and -20 < dbfs(talking) < -16
    # Syllables: loud and quiet 50 ms windows alternate about four times a second.
    windows = [dbfs(talking[i : i + 2400]) for i in range(0, len(talking), 2400)]
    loud = [w > -22 for w in windows]
    assert sum(a and not b for a, b in itertools.pairwise(loud)) in (7, 8)


def test_opus_clips_decode_to_the_right_level() -> None:
    clip = encode_audio("talking", 1.0)
    assert len(clip.packets) == 50 and clip.packet_seconds == AUDIO_PACKET_SAMPLES / AUDIO_RATE
    decoder = av.CodecContext.create("libopus", "r")
    frames = [f for p in clip.packets * 2 for f in decoder.decode(av.Packet(p))]
    samples = np.concatenate([f.to_ndarray().ravel() for f in frames]).astype(np.float64)
    if frames[0].format.name == "s16":
        samples /= 32768
    level = 20 * math.log10(float(np.sqrt(np.mean(samples[AUDIO_RATE:] ** 2))))
    assert -24 < level < -14


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_every_tier_hits_its_bitrate(media_settings: Settings, codec: VideoCodec) -> None:
    """Clips for the default tiers come from the session's warm cache; the target is +-10%, we hold +-5%."""
    library = ClipLibrary(media_settings.media)
    for tier in media_settings.tiers.values():
        clips = asyncio.run(library.video(tier, codec))
        for clip in (clips.idle, clips.talking):
            assert abs(clip.bitrate_kbps / tier.bitrate_kbps - 1) < 0.05, (tier, clip.bitrate_kbps)
            assert len(clip.packets) == 50
            assert [i for i, key in enumerate(clip.keyframes) if key] == [0, 25]


def test_docs_profile_360p_clips(media_settings: Settings) -> None:
    """The docs' tier table starts at 640x360; clips for it are built on first use and cached too."""
    tier = Settings(tier_profile="docs").tiers["low"]
    assert (tier.width, tier.height) == (640, 360)
    clips = asyncio.run(ClipLibrary(media_settings.media).video(tier, "VP8"))
    assert abs(clips.talking.bitrate_kbps / tier.bitrate_kbps - 1) < 0.05
    frame = av.CodecContext.create("libvpx", "r").decode(av.Packet(clips.talking.packets[0]))[0]
    assert (frame.width, frame.height, read_frame_counter(frame)) == (640, 360, 0)


def test_h264_is_constrained_baseline_at_the_tier_level(media_settings: Settings) -> None:
    library = ClipLibrary(media_settings.media)
    for name, level in [("low", 0x1F), ("high", 0x28)]:
        clips = asyncio.run(library.video(media_settings.tiers[name], "H264"))
        for clip in (clips.idle, clips.talking):
            for index in (0, 25):
                data = clip.packets[index]
                sps = data.index(b"\x00\x00\x01\x67") + 4
                assert data[sps : sps + 3] == bytes([66, 0xC0, level])  # profile 66, constraint sets 0+1
                assert b"\x00\x00\x01\x65" in data  # an IDR slice: decoding can start here


def test_vp8_packets_are_whole_frames_that_decode_in_order(media_settings: Settings) -> None:
    clips = asyncio.run(ClipLibrary(media_settings.media).video(media_settings.tiers["low"], "VP8"))
    decoder = av.CodecContext.create("libvpx", "r")
    counters = []
    for packet in clips.talking.packets[25:] + clips.idle.packets[:3]:  # a switch at a keyframe
        frames = decoder.decode(av.Packet(packet))
        assert len(frames) == 1
        counters.append(read_frame_counter(frames[0]))
    assert counters == [*range(25, 50), 0, 1, 2]


def test_cache_round_trip_and_corruption(tmp_path: Path) -> None:
    settings = MediaSettings(cache_dir=tmp_path, clip_seconds=0.4, keyframe_interval_s=0.2)
    library = ClipLibrary(settings)
    first = asyncio.run(library.video(TINY, "VP8"))
    files = sorted(tmp_path.glob("vp8-320x180-*.clip"))
    assert len(files) == 2 and len(first.idle.packets) == 10
    assert [i for i, key in enumerate(first.idle.keyframes) if key] == [0, 5]
    again = asyncio.run(ClipLibrary(settings).video(TINY, "VP8"))
    assert again.idle == first.idle and again.talking == first.talking
    files[0].write_bytes(b"SATCLIP1 truncated")
    rebuilt = asyncio.run(ClipLibrary(settings).video(TINY, "VP8"))  # the corrupt file is re-encoded
    assert len(rebuilt.idle.packets) == 10 and files[0].stat().st_size > 100


def test_unwritable_cache_still_serves(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    settings = MediaSettings(cache_dir=blocker / "cache", clip_seconds=0.2)
    clips = asyncio.run(ClipLibrary(settings).video(TINY, "H264"))
    assert len(clips.idle.packets) == 5 and clips.h264_level == 31
    assert ClipCache(blocker / "cache").load("x", "y") is None


def test_encoded_clip_rejects_inconsistent_data() -> None:
    with pytest.raises(ValueError):
        EncodedClip(packets=(b"a", b"b"), keyframes=(True,), packet_seconds=0.04)
    with pytest.raises(ValueError):
        EncodedClip(packets=(b"a",), keyframes=(False,), packet_seconds=0.04)
