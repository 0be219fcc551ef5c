"""A LiveKit participant's two peer connections on aiortc, in LiveKit's classic two-connection mode.

The subscriber connection is the server's: it offers the avatar's tracks and the ``_reliable``/``_lossy``
data channels, and the client answers. The publisher connection is the client's: it offers (its data
channels, when it first sends data) and the server answers. Candidates travel as trickle messages both
ways, as with a LiveKit server: the mock's own are taken out of its descriptions and sent one by one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from mockserver.config import Tier
from mockserver.media import MediaError, MediaPlane, sdp
from mockserver.media.ice import prepare_loopback_ice
from mockserver.media.plane import ReplayMedia
from mockserver.media.sdp import VideoCodec

logger = logging.getLogger(__name__)

RELIABLE = "_reliable"
LOSSY = "_lossy"
#: Data the mock holds for a subscriber whose channel is not open yet.
MAX_PENDING_DATA = 256
MAX_PENDING_CANDIDATES = 64
_SIGNALING_ERRORS = (ValueError, InvalidStateError, InvalidAccessError, OperationError, InternalError)

CandidateInit = dict[str, Any]


def split_candidates(description: str) -> tuple[str, list[CandidateInit]]:
    """The description without candidate lines, and the bundled (first) section's candidates as trickle inits."""
    lines = description.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    first = lines[starts[0] : starts[1] if len(starts) > 1 else len(lines)] if starts else []
    mid = next((line[len("a=mid:") :] for line in first if line.startswith("a=mid:")), "0")
    ufrag = next((line[len("a=ice-ufrag:") :] for line in first if line.startswith("a=ice-ufrag:")), None)
    candidates = [
        {"candidate": line[len("a=") :], "sdpMid": mid, "sdpMLineIndex": 0, "usernameFragment": ufrag}
        for line in first
        if line.startswith("a=candidate:")
    ]
    kept = [line for line in lines if not line.startswith("a=candidate:") and line != "a=end-of-candidates"]
    return "\r\n".join(kept) + "\r\n", candidates


class Transport:
    """What both connections share: loopback-only ICE, trickled candidates, data in, state changes out."""

    def __init__(
        self,
        policy: RTCBundlePolicy,
        on_state: Callable[[str], None],
        on_data: Callable[[bytes], None],
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))
        self._on_state = on_state
        self._on_data = on_data
        self._bundle_mid: str | None = None
        self._pending: list[RTCIceCandidate | None] = []
        self._lock = asyncio.Lock()
        self._closed = False
        self.pc.on("connectionstatechange", self._state_changed)
        self.pc.on("datachannel", self._listen)

    @property
    def state(self) -> str:
        return "closed" if self._closed else self.pc.connectionState

    async def add_candidate(self, init: CandidateInit) -> None:
        """A candidate the client trickled (``candidateInit`` parsed); mDNS ``.local`` ones cannot be reached."""
        parsed = sdp.parse_candidate(init)
        if parsed is not None and parsed.ip.endswith(".local"):
            return
        async with self._lock:
            if self._closed:
                return
            if self._bundle_mid is None:  # no remote description yet: hold it
                if len(self._pending) >= MAX_PENDING_CANDIDATES:
                    raise MediaError("ice: too many candidates before the session description")
                self._pending.append(parsed)
                return
            await self._add(parsed)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.pc.close()

    async def _set_remote(self, text: str, kind: str) -> None:
        description = sdp.parse(text, "offer" if kind == "offer" else "answer")
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=text, type=kind))
        except _SIGNALING_ERRORS as exc:
            raise MediaError(f"sdp: {kind} rejected ({str(exc)[:100] or type(exc).__name__})") from exc
        bundle = next((g for g in description.group if g.semantic == "BUNDLE" and g.items), None)
        self._bundle_mid = str(bundle.items[0]) if bundle else str(description.media[0].rtp.muxId or "0")
        pending, self._pending = self._pending, []
        for candidate in pending:
            await self._add(candidate)

    async def _set_local(self, description: RTCSessionDescription) -> tuple[str, list[CandidateInit]]:
        """Apply our description (gathering loopback candidates) and split the candidates out for trickling."""
        prepare_loopback_ice(self.pc, lambda: None)
        await self.pc.setLocalDescription(description)
        return split_candidates(self.pc.localDescription.sdp)

    async def _add(self, candidate: RTCIceCandidate | None) -> None:
        if candidate is not None:
            # Everything is bundled on one transport: aim every candidate at it, whatever mid it names.
            candidate.sdpMid, candidate.sdpMLineIndex = self._bundle_mid, None
        try:
            await self.pc.addIceCandidate(candidate)
        except (ValueError, InvalidStateError) as exc:
            raise MediaError("ice: candidate rejected") from exc

    def _listen(self, channel: RTCDataChannel) -> None:
        @channel.on("message")
        def received(message: bytes | str) -> None:
            if isinstance(message, bytes):
                self._on_data(message)

    def _state_changed(self) -> None:
        if not self._closed:
            self._on_state(self.pc.connectionState)


class Subscriber(Transport):
    """The server's offer: the avatar's video and audio (msid ``<participant sid>|<track sid>``) and data."""

    def __init__(self, on_state: Callable[[str], None], on_data: Callable[[bytes], None]) -> None:
        super().__init__(RTCBundlePolicy.MAX_BUNDLE, on_state, on_data)
        self.media: ReplayMedia | None = None
        self._reliable: RTCDataChannel | None = None
        self._pending_data: list[bytes] = []

    async def offer(
        self,
        plane: MediaPlane,
        tier: Tier,
        codec: VideoCodec,
        stream_ids: tuple[str, str, str],
        talking: bool,
    ) -> tuple[str, list[CandidateInit]]:
        """The subscriber offer (without candidates) and its candidates; ``stream_ids`` = (participant, video
        track, audio track) sids, which the client matches against the join response."""
        # Tracks before channels: aiortc bundles the data channel onto the first transceiver's transport only
        # if that exists (the other way round it would stop the shared transport when the answer arrives).
        media = await plane.add_replay(self.pc, tier, codec)
        self.media = media
        media.set_talking(talking)
        reliable = self.pc.createDataChannel(RELIABLE, ordered=True)
        lossy = self.pc.createDataChannel(LOSSY, ordered=True, maxRetransmits=0)
        self._reliable = reliable
        reliable.on("open", self._flush)
        for channel in (reliable, lossy):
            self._listen(channel)
        participant_sid, video_sid, audio_sid = stream_ids
        for transceiver, track_sid in ((media.video, video_sid), (media.audio, audio_sid)):
            transceiver.sender._stream_id = f"{participant_sid}|{track_sid}"
            transceiver.sender._track_id = track_sid
        async with self._lock:
            try:
                text, candidates = await self._set_local(await self.pc.createOffer())
            except InvalidStateError as exc:  # closed meanwhile: the client left during the join
                raise MediaError("media: participant left") from exc
        if codec == "H264":
            text = sdp.set_h264_level(text, sdp.h264_level(tier.width, tier.height, tier.fps, tier.bitrate_kbps))
        return text, candidates

    async def accept_answer(self, text: str) -> None:
        async with self._lock:
            if self._closed:
                return
            if self.pc.signalingState != "have-local-offer":
                raise MediaError("sdp: no offer is waiting for an answer")
            await self._set_remote(text, "answer")

    def send(self, data: bytes) -> None:
        """On ``_reliable``; held (bounded) until it opens, dropped once closed."""
        channel = self._reliable
        if self._closed or channel is None:
            return
        if channel.readyState == "open":
            channel.send(data)
        elif channel.readyState == "connecting" and len(self._pending_data) < MAX_PENDING_DATA:
            self._pending_data.append(data)

    async def close(self) -> None:
        if self.media is not None:
            self.media.stop()
        await super().close()

    def _flush(self) -> None:
        pending, self._pending_data = self._pending_data, []
        if self._reliable is not None:
            for data in pending:
                self._reliable.send(data)


class Publisher(Transport):
    """The client's offers (data channels; renegotiations too), answered by the server."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        # Balanced bundling: aiortc mishandles a max-bundle answerer whose client lists data first.
        super().__init__(RTCBundlePolicy.BALANCED, lambda _: None, on_data)

    async def answer(self, text: str) -> tuple[str, list[CandidateInit]]:
        async with self._lock:
            if self._closed:
                raise MediaError("media: participant left")
            await self._set_remote(text, "offer")
            return await self._set_local(await self.pc.createAnswer())
