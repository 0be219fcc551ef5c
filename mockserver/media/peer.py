"""AvatarPeer: one session's WebRTC connection (replayed avatar video + Opus audio + an events channel)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc import sdp as aiosdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from mockserver.config import MediaSettings, NetworkConditions, Tier
from mockserver.media import sdp
from mockserver.media.clips import ClipLibrary
from mockserver.media.errors import MediaError
from mockserver.media.ice import prepare_loopback_ice
from mockserver.media.impairments import NetworkShaper, ice_protocols
from mockserver.media.sender import Pacer
from mockserver.media.sender import install as install_lean_rtp
from mockserver.media.tracks import AudioReplayTrack, ReplayState, VideoReplayTrack

logger = logging.getLogger(__name__)

_REPORTED_STATES = ("connecting", "connected", "failed", "closed")
_SIGNALING_ERRORS = (ValueError, InvalidStateError, InvalidAccessError, OperationError, InternalError)
#: Bounds on what a peer holds for a client that is not ready yet.
MAX_PENDING_EVENTS = 256
MAX_PENDING_CANDIDATES = 64


class StateReporter:
    """Tells the control plane each peer state once, in order, and nothing after "closed"."""

    def __init__(self, session_id: str, on_state: Callable[[str], None]) -> None:
        self.session_id = session_id
        self.reported: str | None = None
        self._on_state = on_state

    def report(self, state: str) -> None:
        if self.reported in ("closed", state):
            return
        self.reported = state
        try:
            self._on_state(state)
        except Exception:
            logger.exception("session %s: on_state(%r) raised", self.session_id, state)


class AvatarPeer:
    """The mock avatar's side of one WebRTC session.

    Two flows: ``create_offer`` then ``accept_answer`` (v1: the server offers) or ``answer_offer``
    (the client offers). ``on_state`` hears "connecting", "connected", "failed" and "closed", each at
    most once per change, never anything after "closed"; after "failed" the peer releases its
    connection itself and "closed" follows.
    """

    def __init__(
        self,
        session_id: str,
        tier: Tier,
        codec: sdp.VideoCodec,
        on_state: Callable[[str], None],
        *,
        library: ClipLibrary,
        pacer: Pacer,
        settings: MediaSettings,
        on_closed: Callable[[AvatarPeer], None],
    ) -> None:
        self.session_id = session_id
        self.tier = tier
        self.codec = codec
        self._states = StateReporter(session_id, on_state)
        self._library = library
        self._pacer = pacer
        self._settings = settings
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._pc: RTCPeerConnection | None = None
        self._role: Literal["offerer", "answerer"] | None = None
        self._replay = ReplayState()
        self._video: VideoReplayTrack | None = None
        self._audio: AudioReplayTrack | None = None
        self._channel: RTCDataChannel | None = None
        self._pending_events: list[str] = []
        self._pending_candidates: list[RTCIceCandidate | None] = []
        self._remote_ufrag: str | None = None
        self._bundle_mid: str | None = None
        self._negotiated = False
        self._signaling = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._last_heard = self._loop.time()
        self._close_task: asyncio.Future[None] | None = None
        self._shaper = NetworkShaper()
        self._level = sdp.h264_level(tier.width, tier.height, tier.fps, tier.bitrate_kbps) if codec == "H264" else None

    # ------------------------------------------------------------------------------------ signaling

    async def create_offer(self) -> str:
        """v1 flow: sendonly video (the session's codec only) + Opus audio + a server-opened channel."""
        async with self._signaling:
            self._check_open()
            if self._role is not None:
                raise MediaError("sdp: this session has already negotiated")
            self._role = "offerer"
            pc = await self._attach_media(RTCBundlePolicy.MAX_BUNDLE, for_offer=True)
            self._open_channel(pc)
            try:
                offer = await pc.createOffer()
                prepare_loopback_ice(pc, self._heard)
                await pc.setLocalDescription(offer)
            except InvalidStateError as exc:  # closed meanwhile
                raise MediaError("media: session closed") from exc
            self._shaper.attach(ice_protocols(pc))
            return self._local_sdp(pc)

    async def accept_answer(self, sdp_text: str) -> None:
        """v1 flow: the client's answer to ``create_offer``'s offer."""
        async with self._signaling:
            self._check_open()
            pc = self._pc
            if self._role != "offerer" or pc is None or pc.signalingState != "have-local-offer":
                raise MediaError("sdp: no offer is waiting for an answer")
            description = sdp.parse(sdp_text, "answer")
            sdp.require_video_codec(description, self.codec)
            await self._set_remote(pc, sdp_text, "answer", description)
            await self._after_negotiation(pc)

    async def answer_offer(self, sdp_text: str) -> str:
        """Seed flow: answer the client's offer; refuses (never switches) if it cannot take our codec."""
        async with self._signaling:
            self._check_open()
            if self._role is not None:
                raise MediaError("sdp: this session has already negotiated")
            description = sdp.parse(sdp_text, "offer")
            sdp.require_video_codec(description, self.codec)
            self._role = "answerer"
            # Balanced bundling: aiortc mishandles a max-bundle answerer whose client lists data first.
            pc = await self._attach_media(RTCBundlePolicy.BALANCED, for_offer=False)
            await self._set_remote(pc, sdp_text, "offer", description)
            if pc.sctp is not None:  # the client negotiated data channels: events go on ours
                self._open_channel(pc)
            try:
                answer = await pc.createAnswer()
                prepare_loopback_ice(pc, self._heard)
                await pc.setLocalDescription(answer)
            except InvalidStateError as exc:
                raise MediaError("media: session closed") from exc
            self._shaper.attach(ice_protocols(pc))
            await self._after_negotiation(pc)
            return self._local_sdp(pc)

    async def add_ice_candidate(self, candidate: dict[str, Any]) -> None:
        """A trickled client candidate; an empty ``candidate`` string ends the client's candidates."""
        parsed = sdp.parse_candidate(candidate)
        if self._closing:
            return
        ufrag = candidate.get("usernameFragment")
        if parsed is not None and ufrag and self._remote_ufrag and ufrag != self._remote_ufrag:
            logger.debug("session %s: ignoring a candidate for another ICE generation", self.session_id)
            return
        async with self._signaling:
            if not self._negotiated:
                if len(self._pending_candidates) >= MAX_PENDING_CANDIDATES:
                    raise MediaError("ice: too many candidates before the session description")
                self._pending_candidates.append(parsed)
                return
            await self._add_candidate(parsed)

    async def _attach_media(self, policy: RTCBundlePolicy, *, for_offer: bool) -> RTCPeerConnection:
        """Load (or wait for) the clips, then add the sendonly tracks with only our codecs."""
        try:
            video_clips = await self._library.video(self.tier, self.codec)
            audio_clips = await self._library.audio()
        except ValueError as exc:  # a tier no encoder level can carry
            raise MediaError(f"media: cannot encode this tier ({exc})") from exc
        self._check_open()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=policy))
        self._pc = pc
        pc.on("connectionstatechange", self._on_connection_state)
        self._video = VideoReplayTrack(video_clips, self._replay)
        self._audio = AudioReplayTrack(audio_clips, self._replay)
        video = pc.addTransceiver(self._video, direction="sendonly")
        video.setCodecPreferences(sdp.codec_preferences("video", self.codec, for_offer=for_offer))
        # aiortc ignores keyframe requests for pre-encoded packets: route them to the track.
        video.sender._send_keyframe = self._video.request_keyframe  # type: ignore[method-assign]
        audio = pc.addTransceiver(self._audio, direction="sendonly")
        audio.setCodecPreferences(sdp.codec_preferences("audio"))
        install_lean_rtp(video.sender, self._video, self._pacer)
        install_lean_rtp(audio.sender, self._audio, self._pacer)
        return pc

    async def _set_remote(
        self, pc: RTCPeerConnection, text: str, kind: str, description: aiosdp.SessionDescription
    ) -> None:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=text, type=kind))
        except _SIGNALING_ERRORS as exc:
            if self._closing:
                raise MediaError("media: session closed") from exc
            raise MediaError(f"sdp: {kind} rejected ({str(exc)[:100] or type(exc).__name__})") from exc
        ice = description.media[0].ice  # sdp.parse made sure every section has credentials
        self._remote_ufrag = ice.usernameFragment if ice is not None else None
        bundle = next((g for g in description.group if g.semantic == "BUNDLE" and g.items), None)
        self._bundle_mid = str(bundle.items[0]) if bundle else description.media[0].rtp.muxId

    async def _after_negotiation(self, pc: RTCPeerConnection) -> None:
        self._negotiated = True
        pending, self._pending_candidates = self._pending_candidates, []
        for candidate in pending:
            await self._add_candidate(candidate)
        if pc.connectionState != "connected":
            self._arm(self._settings.ice_connect_timeout_s, self._on_connect_timeout)

    async def _add_candidate(self, candidate: RTCIceCandidate | None) -> None:
        pc = self._pc
        if pc is None or self._closing:
            return
        if candidate is not None:
            # Everything is bundled on one transport: aim every candidate at it, whatever mid it names.
            candidate.sdpMid, candidate.sdpMLineIndex = self._bundle_mid, None
        try:
            await pc.addIceCandidate(candidate)
        except (ValueError, InvalidStateError) as exc:
            raise MediaError("ice: candidate rejected") from exc

    def _local_sdp(self, pc: RTCPeerConnection) -> str:
        text = pc.localDescription.sdp
        return sdp.set_h264_level(text, self._level) if self._level is not None else text

    # --------------------------------------------------------------------------------------- media

    def set_talking(self, talking: bool) -> None:
        """Audio switches on its next packet, video at its next keyframe."""
        self._replay.talking = bool(talking)

    def send_event(self, event: dict[str, Any]) -> None:
        """JSON text on the events channel; held until it opens, dropped once the session is closed."""
        if self._closing:
            return
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(event, separators=(",", ":")))
        elif channel is not None and channel.readyState != "connecting":
            return
        elif self._role == "answerer" and channel is None:
            return  # the client negotiated no data channel: nothing can carry events
        elif len(self._pending_events) < MAX_PENDING_EVENTS:
            self._pending_events.append(json.dumps(event, separators=(",", ":")))

    def stats(self) -> dict[str, int]:
        """Counters for tests, benchmarks and the admin API."""
        video, audio = self._video, self._audio
        return {
            "video_frames_sent": video.frames_sent if video else 0,
            "video_slots_skipped": video.slots_skipped if video else 0,
            "keyframe_requests": video.keyframe_requests if video else 0,
            "keyframes_sent": video.keyframes_sent if video else 0,
            "audio_packets_sent": audio.frames_sent if audio else 0,
            **self._shaper.stats(),
        }

    # ------------------------------------------------------------------------------------- network

    def set_network(self, conditions: NetworkConditions | None) -> None:
        """This session's own network conditions, from now on (None: back to the plane's default)."""
        self._shaper.set_own(conditions)
        logger.info("session %s: network %s", self.session_id, _describe(self._shaper.effective))

    def set_default_network(self, conditions: NetworkConditions | None) -> None:
        """The plane's global conditions; they apply while this session has none of its own."""
        self._shaper.set_default(conditions)

    @property
    def network(self) -> NetworkConditions | None:
        """The session's own conditions (None when it follows the plane's default)."""
        return self._shaper.own

    def _open_channel(self, pc: RTCPeerConnection) -> None:
        channel = pc.createDataChannel("events")
        self._channel = channel

        @channel.on("open")
        def flush() -> None:
            pending, self._pending_events = self._pending_events, []
            for text in pending:
                channel.send(text)

    # ------------------------------------------------------------------------------- state, timers

    def _heard(self) -> None:
        self._last_heard = self._loop.time()

    def _on_connection_state(self) -> None:
        pc = self._pc
        if pc is None:
            return
        state = pc.connectionState
        if state == "connected" and self._states.reported != "connected":
            self._heard()
            self._shaper.connected()
            self._arm(self._silence_check_period(), self._check_silence)
        if state in _REPORTED_STATES and state != "closed":
            self._states.report(state)
        if state in ("failed", "closed"):  # "closed" unasked: the client hung up and aiortc closed itself
            self._start_close()  # which reports "closed" once everything is released

    def _arm(self, delay: float, callback: Callable[[], None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay, callback)

    def _silence_check_period(self) -> float:
        return max(0.1, self._settings.peer_silence_timeout_s / 4)

    def _on_connect_timeout(self) -> None:
        self._timer = None
        if self._pc is not None and self._pc.connectionState != "connected":
            self._fail("ICE did not connect in time")

    def _check_silence(self) -> None:
        self._timer = None
        if self._loop.time() - self._last_heard > self._settings.peer_silence_timeout_s:
            self._fail("client went silent")
        elif not self._closing:
            self._arm(self._silence_check_period(), self._check_silence)

    def _fail(self, why: str) -> None:
        if self._closing:
            return
        logger.info("session %s: media failed: %s", self.session_id, why)
        self._states.report("failed")
        self._start_close()

    # -------------------------------------------------------------------------------------- closing

    @property
    def _closing(self) -> bool:
        return self._close_task is not None

    def _check_open(self) -> None:
        if self._closing:
            raise MediaError("media: session closed")

    def _start_close(self) -> asyncio.Future[None]:
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        return self._close_task

    async def close(self) -> None:
        """Idempotent: stops the tracks, closes the connection, cancels the peer's timer."""
        await asyncio.shield(self._start_close())

    async def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending_events.clear()
        self._pending_candidates.clear()
        for track in (self._video, self._audio):
            if track is not None:
                track.stop()
        try:
            if self._pc is not None:
                await self._pc.close()
        finally:
            self._shaper.close()
            # Leave the plane first: whoever hears "closed" sees the peer already gone from the counts.
            self._on_closed(self)
            self._states.report("closed")


def _describe(conditions: NetworkConditions | None) -> str:
    if conditions is None:
        return "unimpaired"
    return conditions.profile or conditions.model_dump_json(exclude_defaults=True)
