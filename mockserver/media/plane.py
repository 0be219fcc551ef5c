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
from typing import get_args

from mockserver.config import Settings, Tier
from mockserver.media.clips import ClipLibrary
from mockserver.media.errors import MediaError
from mockserver.media.peer import AvatarPeer
from mockserver.media.sdp import VideoCodec
from mockserver.media.sender import Pacer
from mockserver.media.stun import StunResponder

logger = logging.getLogger(__name__)

CODECS: tuple[VideoCodec, ...] = get_args(VideoCodec)


class MediaPlane:
    """Owns the clip library, the loopback STUN responder and every open AvatarPeer."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._library = ClipLibrary(settings.media)
        self._stun = StunResponder()
        self._pacer = Pacer()
        self._peers: set[AvatarPeer] = set()
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
        self._peers.add(peer)
        return peer
