"""The mock service's state in one place: settings, clock, sessions, faults, media, and how they are wired.

Handlers in ``mockserver.api`` call into this; ``mockserver.app`` owns its start-up and shutdown.
"""

from __future__ import annotations

import random
from typing import Any

from avatar_contract.codes import ErrorCode
from avatar_contract.models import NewSessionRequest, SessionDescription
from mockserver.clock import Clock, RealClock
from mockserver.config import Settings
from mockserver.errors import ApiError
from mockserver.faults import FaultTable
from mockserver.media import MediaError, MediaPlane
from mockserver.ratelimit import RateLimiter
from mockserver.rooms.hub import RoomHub
from mockserver.sessions import Principal, Session, SessionRegistry, State


class MockService:
    def __init__(self, settings: Settings, clock: Clock | None = None, media: MediaPlane | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or RealClock()
        self.rng = random.Random(settings.seed)
        self.registry = SessionRegistry(settings, self.clock, self.rng)
        self.faults = FaultTable()
        self.rate_limiter = RateLimiter()
        self.media = media
        self.rooms = RoomHub(self.registry, media)
        self.registry.event_listeners.append(self._forward_event)
        self.registry.close_listeners.append(self._close_media)
        self.registry.close_listeners.append(self.rooms.close)

    # --- session flows ---

    async def new_session(self, principal: Principal, request: NewSessionRequest) -> tuple[Session, str | None]:
        """Create a session; for v1 with media, also the server's SDP offer (answered in ``streaming.start``)."""
        session = self.registry.create(principal, request)
        offer: str | None = None
        if session.version == "v2":
            self.rooms.issue_tokens(session)
        elif self.media is not None:
            try:
                self._open_peer(session)
                offer = await session.media.create_offer()
            except MediaError as exc:
                await self.registry.close(session, "media_error")
                raise ApiError(ErrorCode.INVALID_PARAMETER, str(exc)) from None
        return session, offer

    async def start(self, session: Session, sdp: SessionDescription | None) -> str | None:
        """Start media; returns the server's answer SDP for the seed flow (client offer), else None."""
        session.require("streaming.start", frozenset({State.NEW}))
        if session.version == "v2":
            # Connected once a client's subscriber connection is (right away without a media plane).
            opened = self.rooms.open_room(session)
            self.registry.mark(session, State.CONNECTING if opened else State.CONNECTED)
            self.registry.touch(session)
            return None
        answer: str | None = None
        if sdp is None or self.media is None:
            self.registry.mark(session, State.CONNECTED)
            return None
        try:
            if sdp.type == "offer":
                # The client offers: the server's own offer is moot. Conditions set on it carry over.
                conditions = session.media.network if session.media is not None else None
                await self._close_media(session)
                self._open_peer(session)
                if conditions is not None:
                    session.media.set_network(conditions)
                answer = await session.media.answer_offer(sdp.sdp)
            else:
                if session.media is None:
                    raise MediaError("no server offer to answer")
                await session.media.accept_answer(sdp.sdp)
        except MediaError as exc:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: {exc}") from None
        self.registry.mark(session, State.CONNECTING)
        self.registry.touch(session)
        return answer

    async def add_ice(self, session: Session, candidate: dict[str, Any]) -> None:
        if session.media is None:
            return
        try:
            await session.media.add_ice_candidate(candidate)
        except MediaError as exc:
            raise ApiError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: candidate: {exc}") from None

    # --- media wiring ---

    def _open_peer(self, session: Session) -> None:
        assert self.media is not None
        tier = self.settings.tiers[session.quality]
        peer: Any = None

        def on_state(state: str) -> None:
            if session.media is not peer:
                return  # a replaced peer (seed flow re-offer) says nothing about the session
            if state == "connected":
                self.registry.mark(session, State.CONNECTED)
            elif state in {"failed", "closed"}:
                self.registry.close_soon(session, f"media_{state}")

        peer = self.media.open_peer(session.session_id, tier, session.codec, on_state)
        session.media = peer

    def _forward_event(self, session: Session, event: dict[str, Any]) -> None:
        if session.version == "v2":
            self.rooms.forward(session, event)
            return
        peer = session.media
        if peer is None:
            return
        if event["type"] == "avatar_start_talking":
            peer.set_talking(True)
        elif event["type"] == "avatar_stop_talking":
            peer.set_talking(False)
        peer.send_event(event)

    async def _close_media(self, session: Session) -> None:
        peer, session.media = session.media, None
        if peer is not None:
            await peer.close()

    # --- lifecycle ---

    def update_settings(self, settings: Settings) -> None:
        """Swap the live settings; sessions already open keep their timers."""
        self.settings = settings
        self.registry.settings = settings

    async def start_up(self) -> None:
        if self.media is not None:
            await self.media.start()

    async def shut_down(self) -> None:
        await self.registry.close_all("shutdown")
        if self.media is not None:
            await self.media.close()

    async def reset(self) -> None:
        await self.registry.reset()
        self.faults = FaultTable()
        self.rate_limiter = RateLimiter()
        if self.media is not None:
            self.media.set_network(None)

    def stats(self) -> dict[str, int]:
        """Live counts that must return to zero when sessions end (leak checks)."""
        return {
            "sessions_live": self.registry.live_count(),
            "session_timers": self.registry.timer_count(),
            "peer_connections": (self.media.peer_count() if self.media is not None else 0)
            + self.rooms.stats()["room_peer_connections"],
        }
