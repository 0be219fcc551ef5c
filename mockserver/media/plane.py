"""MediaPlane: the media side of the mock as the control plane sees it.

Everything the control plane needs goes through this small surface (``start``/``close``,
``ice_servers``, ``peer_count``, ``open_peer``) and the returned peers' async methods, so a
proxy that runs peers in worker processes can replace it without touching the control plane.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from mockserver.config import NetworkConditions, Settings, Tier
from mockserver.media import sdp
from mockserver.media.clips import ClipLibrary
from mockserver.media.errors import MediaError
from mockserver.media.peer import AvatarPeer
from mockserver.media.sdp import VideoCodec
from mockserver.media.sender import Pacer
from mockserver.media.sender import install as install_lean_rtp
from mockserver.media.stun import StunResponder
from mockserver.media.tracks import AudioReplayTrack, ReplayState, VideoReplayTrack

logger = logging.getLogger(__name__)

CODECS: tuple[VideoCodec, ...] = get_args(VideoCodec)


@dataclass
class ReplayMedia:
    """The avatar's replayed tracks on a connection built outside AvatarPeer (``MediaPlane.add_replay``)."""

    video: RTCRtpTransceiver
    audio: RTCRtpTransceiver
    state: ReplayState

    def set_talking(self, talking: bool) -> None:
        """Audio switches on its next packet, video at its next keyframe."""
        self.state.talking = talking

    def stop(self) -> None:
        for transceiver in (self.video, self.audio):
            if transceiver.sender.track is not None:
                transceiver.sender.track.stop()


class MediaPlane:
    """Owns the clip library, the loopback STUN responder and every open AvatarPeer."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._library = ClipLibrary(settings.media)
        self._stun = StunResponder()
        self._pacer = Pacer()
        self._peers: set[AvatarPeer] = set()
        self._default_network: NetworkConditions | None = None
        self._state = "new"

    async def start(self) -> None:
        """Encode (or load from the disk cache) every tier x codec now, so sessions never wait for it."""
        if self._state != "new":
            return
        self._state = "starting"
        await self._stun.start("127.0.0.1", self._settings.media.stun_port)
        # Encoders release the GIL: two builds at a time use two cores without swamping a small machine.
        slots = asyncio.Semaphore(min(2, os.cpu_count() or 1))

        async def build(tier: Tier, codec: VideoCodec) -> None:
            async with slots:
                await self._library.video(tier, codec)

        try:
            await self._library.audio()
            await asyncio.gather(*(build(tier, codec) for tier in self._settings.tiers.values() for codec in CODECS))
        except BaseException:
            self._stun.close()
            self._state = "closed"
            raise
        if self._state == "starting":
            self._state = "running"

    async def close(self) -> None:
        """Close every peer and stop the STUN responder; idempotent."""
        self._state = "closed"
        peers = list(self._peers)
        if peers:
            await asyncio.gather(*(peer.close() for peer in peers), return_exceptions=True)
        self._stun.close()

    @property
    def ice_servers(self) -> list[dict[str, list[str]]]:
        """The mock's own STUN responder, in the browser's ``RTCIceServer`` shape."""
        if not self._stun.running:
            return []
        host, port = self._stun.address
        return [{"urls": [f"stun:{host}:{port}"]}]

    def peer_count(self) -> int:
        return len(self._peers)

    @property
    def network(self) -> NetworkConditions | None:
        """The global network conditions (None: unimpaired)."""
        return self._default_network

    def set_network(self, conditions: NetworkConditions | None) -> None:
        """Global conditions for every AvatarPeer, open or future, that has none of its own (None clears)."""
        self._default_network = conditions
        for peer in self._peers:
            peer.set_default_network(conditions)

    def open_peer(self, session_id: str, tier: Tier, codec: VideoCodec, on_state: Callable[[str], None]) -> AvatarPeer:
        if self._state != "running":
            raise MediaError("media: media plane is not running")
        if codec not in CODECS:
            raise MediaError(f"media: unsupported video codec (use {' or '.join(CODECS)})")
        peer = AvatarPeer(
            session_id,
            tier,
            codec,
            on_state,
            library=self._library,
            pacer=self._pacer,
            settings=self._settings.media,
            on_closed=self._peers.discard,
        )
        peer.set_default_network(self._default_network)
        self._peers.add(peer)
        return peer

    async def add_replay(self, pc: RTCPeerConnection, tier: Tier, codec: VideoCodec) -> ReplayMedia:
        """Add the avatar's sendonly video (``codec`` only) + Opus audio to ``pc``, a connection the caller owns
        (a v2 room's subscriber): the same clips, pacer and keyframe handling as an AvatarPeer."""
        if self._state != "running":
            raise MediaError("media: media plane is not running")
        if codec not in CODECS:
            raise MediaError(f"media: unsupported video codec (use {' or '.join(CODECS)})")
        try:
            video_clips = await self._library.video(tier, codec)
            audio_clips = await self._library.audio()
        except ValueError as exc:  # a tier no encoder level can carry
            raise MediaError(f"media: cannot encode this tier ({exc})") from exc
        state = ReplayState()
        video_track = VideoReplayTrack(video_clips, state)
        audio_track = AudioReplayTrack(audio_clips, state)
        video = pc.addTransceiver(video_track, direction="sendonly")
        video.setCodecPreferences(sdp.codec_preferences("video", codec, for_offer=True))
        video.sender._send_keyframe = video_track.request_keyframe  # type: ignore[method-assign]
        audio = pc.addTransceiver(audio_track, direction="sendonly")
        audio.setCodecPreferences(sdp.codec_preferences("audio"))
        install_lean_rtp(video.sender, video_track, self._pacer)
        install_lean_rtp(audio.sender, audio_track, self._pacer)
        return ReplayMedia(video, audio, state)
