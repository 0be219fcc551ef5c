"""Media-plane fixtures: settings with a warm clip cache, a running MediaPlane, an aiortc client peer."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mockserver.config import Settings
from mockserver.media import AvatarPeer, MediaPlane
from mockserver.media.clips import FrameMarker, mouth_box, read_frame_marker


@pytest.fixture(scope="session")
def media_settings() -> Settings:
    """Default tiers and clips (env can move the cache); the cache is filled once per machine."""
    settings = Settings()
    media = settings.media.model_copy(update={"peer_silence_timeout_s": 30.0})
    settings = settings.model_copy(update={"media": media})

    async def warm() -> None:
        plane = MediaPlane(settings)
        await plane.start()
        await plane.close()

    asyncio.run(warm())
    return settings


@contextlib.asynccontextmanager
async def running_plane(settings: Settings, **media_updates: Any) -> AsyncIterator[MediaPlane]:
    """A started MediaPlane with some media settings changed (e.g. a short silence timeout); closed after."""
    media = settings.media.model_copy(update=media_updates)
    plane = MediaPlane(settings.model_copy(update={"media": media}))
    await plane.start()
    try:
        yield plane
    finally:
        await plane.close()


@pytest.fixture
async def plane(media_settings: Settings) -> AsyncIterator[MediaPlane]:
    baseline = len(asyncio.all_tasks())
    async with running_plane(media_settings) as plane:
        yield plane
    assert plane.peer_count() == 0
    await wait_for(lambda: len(asyncio.all_tasks()) <= baseline, 3.0, "tasks left after close")


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.02)


@dataclass
class VideoSample:
    marker: FrameMarker | None
    mouth_luma: float
    pts: int
    at: float


@dataclass
class AudioSample:
    rms_dbfs: float
    at: float


@dataclass
class Client:
    """An aiortc client peer that keeps only what tests check (markers, mouth brightness, audio level)."""

    pc: RTCPeerConnection
    video: list[VideoSample] = field(default_factory=list)
    audio: list[AudioSample] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def create(cls, ice_servers: list[dict[str, list[str]]] | None = None) -> Client:
        servers = [RTCIceServer(urls=s["urls"]) for s in ice_servers or []]
        client = cls(RTCPeerConnection(RTCConfiguration(iceServers=servers)))
        client.pc.on("track", client._on_track)
        client.pc.on("datachannel", lambda channel: channel.on("message", client.messages.append))
        return client

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self._pump(track)))

    async def _pump(self, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                x0, y0, x1, y1 = mouth_box(frame.width, frame.height)
                luma = frame.to_ndarray(format="gray")[y0:y1, x0:x1]
                self.video.append(
                    VideoSample(read_frame_marker(frame), float(luma.mean()), frame.pts or 0, loop.time())
                )
            elif isinstance(frame, av.AudioFrame):
                samples = frame.to_ndarray().astype(np.float64) / 32768
                rms = math.sqrt(float(np.mean(samples**2))) or 1e-9
                self.audio.append(AudioSample(20 * math.log10(rms), loop.time()))

    async def answer(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    async def offer(
        self, video_codec: str | None = None, data_channel: bool = True, video_direction: str = "recvonly"
    ) -> str:
        video = self.pc.addTransceiver("video", direction=video_direction)
        if video_codec is not None:
            caps = RTCRtpReceiver.getCapabilities("video")
            assert caps is not None
            video.setCodecPreferences([c for c in caps.codecs if c.mimeType == f"video/{video_codec}"])
        self.pc.addTransceiver("audio", direction="recvonly")
        if data_channel:
            self.pc.createDataChannel("client")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def markers(self) -> list[FrameMarker]:
        return [s.marker for s in self.video if s.marker is not None]

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Client peers made by a test; closed (and their tasks ended) afterwards."""
    made: list[Client] = []
    yield made
    for client in made:
        await client.close()


async def connect_v1(peer: AvatarPeer, client: Client) -> None:
    await peer.accept_answer(await client.answer(await peer.create_offer()))
    await wait_for(lambda: client.pc.connectionState == "connected", 10, "client connected")


async def connect_seed(peer: AvatarPeer, client: Client, data_channel: bool = True) -> None:
    await client.accept(await peer.answer_offer(await client.offer(data_channel=data_channel)))
    await wait_for(lambda: client.pc.connectionState == "connected", 10, "client connected")
