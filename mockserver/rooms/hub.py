"""What v2 sessions have besides REST, in one place: room tokens, rooms, chat sockets, realtime sockets.

``MockService`` holds one RoomHub and calls it at the session's milestones: tokens at ``streaming.new``, a room
at ``streaming.start``, avatar events while it lives, ``close`` when it ends. What the user sends (room data,
chat text, voice turns) comes back here and becomes speech through the session registry.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mockserver.media import MediaPlane
from mockserver.rooms.chat import VOICE_TRANSCRIPT, ChatSockets
from mockserver.rooms.realtime import RealtimeAgents
from mockserver.rooms.room import Room
from mockserver.rooms.tokens import RoomTokens
from mockserver.sessions import ACTIVE_STATES, Session, SessionRegistry, State

logger = logging.getLogger(__name__)

CLIENT_IDENTITY = "client"
AGENT_IDENTITY = "agent"
PUSH_TO_TALK = {"push_to_talk:start": "user_start", "push_to_talk:stop": "user_stop"}


class RoomHub:
    """The v2 side of the mock; rooms exist only with a media plane (without one, v2 is REST only)."""

    def __init__(self, registry: SessionRegistry, media: MediaPlane | None) -> None:
        self.registry = registry
        self.media = media
        self.tokens = RoomTokens(registry.clock)
        self.chat = ChatSockets()
        self.realtime = RealtimeAgents()
        self._rooms: dict[str, Room] = {}

    # ------------------------------------------------------------------------------- session milestones

    def issue_tokens(self, session: Session) -> None:
        """``access_token`` and ``livekit_agent_token``: room tokens (room = session id) for two identities."""
        ttl = self.registry.settings.session_duration_limit_s
        session.access_token = self.tokens.issue(session.session_id, CLIENT_IDENTITY, ttl)
        session.agent_token = self.tokens.issue(session.session_id, AGENT_IDENTITY, ttl, kind="agent")

    def open_room(self, session: Session) -> bool:
        """The session's room, ready for clients to join; False when there is no media plane."""
        if self.media is None:
            return False
        self._rooms[session.session_id] = Room(
            session.session_id,
            self.media,
            self.registry.settings.tiers[session.quality],
            session.codec,
            on_connected=lambda: self.registry.mark(session, State.CONNECTED),
            on_client_data=lambda payload: self.client_data(session, payload),
        )
        return True

    def room(self, name: str) -> Room | None:
        return self._rooms.get(name)

    def forward(self, session: Session, event: dict[str, Any]) -> None:
        """An avatar event: a data packet to the room's clients, and talking video/audio while it speaks."""
        room = self._rooms.get(session.session_id)
        if room is None:
            return
        if event["type"] == "avatar_start_talking":
            room.set_talking(True)
        elif event["type"] == "avatar_stop_talking":
            room.set_talking(False)
        room.publish(event)

    async def close(self, session: Session) -> None:
        """Session over: clients get ``leave``, chat and realtime sockets close."""
        room = self._rooms.pop(session.session_id, None)
        if room is not None:
            await room.close()
        await self.realtime.close(session.session_id)
        await self.chat.close(session.session_id)

    def stats(self) -> dict[str, int]:
        """Live counts that must return to zero when sessions end (leak checks)."""
        return {
            "rooms": len(self._rooms),
            "room_peer_connections": sum(room.peer_count() for room in self._rooms.values()),
            "chat_sockets": self.chat.count(),
            "realtime_sockets": self.realtime.count(),
        }

    # ------------------------------------------------------------------------------------ user input

    def client_data(self, session: Session, payload: bytes) -> None:
        """Room data from the client: push-to-talk markers, else text the avatar answers (the SDK's talk path,
        which sends ``JSON.stringify(text)``; plain UTF-8 text is taken too)."""
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            return
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = text
        if not isinstance(decoded, str):
            logger.info("room %s: ignoring a non-text data packet", session.session_id)
            return
        if decoded in PUSH_TO_TALK:
            self.user_voice(session, PUSH_TO_TALK[decoded])
        else:
            self.user_text(session, decoded)

    def user_text(self, session: Session, text: str) -> None:
        """A user message (room data or chat text): the avatar speaks a reply, as with a ``talk`` task."""
        text = text.strip()
        if session.state not in ACTIVE_STATES or not text or len(text) > self.registry.settings.speech.max_text_chars:
            return
        self.registry.speak(session, text, "talk")

    def user_voice(self, session: Session, event_type: str) -> None:
        """A voice-activity change: the chat sockets hear it; a finished turn is a user message."""
        if not session.live:
            return
        self.chat.send(session.session_id, event_type)
        self.registry.touch(session)
        if event_type == "user_stop" and session.state in ACTIVE_STATES:
            self.registry.emit(session, {"type": "user_talking_message", "message": VOICE_TRANSCRIPT})
            self.registry.emit(session, {"type": "user_end_message"})
            self.registry.speak(session, VOICE_TRANSCRIPT, "talk")
