"""The lean send path: the same RTP payloads as aiortc, one timer for all streams, NACKs, and the fallback."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re

import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from mockserver.config import Settings
from mockserver.media import MediaPlane, peer
from mockserver.media.clips import ClipLibrary
from mockserver.media.sender import Pacer, clip_payloads, install, vp8_payloads
from mockserver.media.tracks import ReplayState, VideoReplayTrack

from .conftest import Client, connect_v1, wait_for
from .test_tracks import video_clips

LOW = Settings().tiers["low"]


async def test_payloads_match_aiortcs_packetizers(media_settings: Settings) -> None:
    library = ClipLibrary(media_settings.media)
    h264 = (await library.video(LOW, "H264")).idle
    for frame, payloads in zip(h264.packets[:3], clip_payloads("H264", h264)[:3], strict=True):
        assert list(payloads) == H264Encoder._packetize(H264Encoder._split_bitstream(frame))
    vp8 = (await library.video(LOW, "VP8")).idle
    assert clip_payloads("VP8", vp8) is clip_payloads("VP8", vp8)  # cut once, shared by every session
    for frame, chunks in zip(vp8.packets[:3], clip_payloads("VP8", vp8)[:3], strict=True):
        assert vp8_payloads(chunks, 0x1234) == Vp8Encoder._packetize(frame, 0x1234)
        assert len(chunks) > 1  # a 500 kbps keyframe or P-frame spans several packets


class FakeStream:
    def __init__(self, track: VideoReplayTrack) -> None:
        self.track = track
        self.sent: list[int] = []

    def send_due(self, now: float, ntp: int, outbox: list[object]) -> None:
        while self.track.next_due(now) <= now:
            self.sent.append(self.track.take(now)[1])


async def test_pacer_serves_every_stream_from_one_timer() -> None:
    pacer = Pacer()
    streams = [FakeStream(VideoReplayTrack(video_clips(), ReplayState())) for _ in range(3)]
    for stream in streams:
        pacer.add(stream)  # type: ignore[arg-type]
    assert pacer.ticking and pacer.streams == 3
    await asyncio.sleep(0.15)
    counts = [len(s.sent) for s in streams]
    assert min(counts) >= 5 and max(counts) - min(counts) <= 1  # 50 fps each, in step
    assert streams[0].sent[:5] == [i * 1800 for i in range(5)]
    for stream in streams:
        pacer.remove(stream)  # type: ignore[arg-type]
    assert not pacer.ticking and pacer.streams == 0


async def test_a_failing_stream_is_dropped_not_the_others(caplog: pytest.LogCaptureFixture) -> None:
    pacer = Pacer()
    good = FakeStream(VideoReplayTrack(video_clips(), ReplayState()))
    bad = FakeStream(VideoReplayTrack(video_clips(), ReplayState()))

    def explode(now: float, ntp: int, outbox: list[object]) -> None:
        raise RuntimeError("boom")

    bad.send_due = explode  # type: ignore[method-assign]
    pacer.add(bad)  # type: ignore[arg-type]
    pacer.add(good)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        await asyncio.sleep(0.1)
    assert pacer.streams == 1 and len(good.sent) >= 3 and "dropping it" in caplog.text
    pacer.remove(good)  # type: ignore[arg-type]


def test_install_refuses_a_sender_it_does_not_know(caplog: pytest.LogCaptureFixture) -> None:
    class Strange:
        transport = None

    with caplog.at_level(logging.WARNING):
        assert not install(Strange(), None, Pacer())  # type: ignore[arg-type]
    assert "slower RTP loop" in caplog.text


async def test_nack_is_answered_with_rtx(plane: MediaPlane, clients: list[Client]) -> None:
    avatar = plane.open_peer("n1", LOW, "VP8", lambda state: None)
    client = Client.create()
    clients.append(client)
    offer = await avatar.create_offer()
    rtx = re.search(r"a=rtpmap:(\d+) rtx/90000", offer)
    assert rtx
    await avatar.accept_answer(await client.answer(offer))
    connection = client.pc.getTransceivers()[0].receiver.transport.transport._connection
    seen: list[tuple[int, int]] = []  # (payload type, sequence number) off the wire, before decryption
    original = connection.data_received

    def spy(data: bytes, component: int) -> None:
        if 127 < data[0] < 192 and not 192 <= data[1] <= 223:
            seen.append((data[1] & 0x7F, int.from_bytes(data[2:4], "big")))
        original(data, component)

    connection.data_received = spy  # type: ignore[method-assign]
    await wait_for(lambda: len(client.markers()) >= 5, 10, "frames")
    receiver = client.pc.getTransceivers()[0].receiver
    ssrc = receiver.getSynchronizationSources()[0].source
    video_pt = int(re.search(r"m=video \d+ \S+ (\d+)", offer).group(1))  # type: ignore[union-attr]
    lost = [seq for pt, seq in seen if pt == video_pt][-3]
    await receiver._send_rtcp_nack(ssrc, [lost])
    await wait_for(lambda: any(pt == int(rtx.group(1)) for pt, _ in seen), 2, "RTX packet")


async def test_stock_loop_still_works(
    plane: MediaPlane, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If aiortc's internals ever change, install() declines and the tracks' recv() path serves."""
    monkeypatch.setattr(peer, "install_lean_rtp", lambda sender, track, pacer: False)
    avatar = plane.open_peer("n2", LOW, "H264", lambda state: None)
    client = Client.create()
    clients.append(client)
    await connect_v1(avatar, client)
    await wait_for(lambda: len(client.markers()) >= 10 and len(client.audio) >= 10, 10, "frames")
    counters = [m.counter for m in client.markers()]
    assert all((b - a) % 50 == 1 for a, b in itertools.pairwise(counters))
    assert plane._pacer.streams == 0
