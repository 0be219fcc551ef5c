"""One LiveKit-style room per started v2 session: the avatar participant and the clients that joined.

The avatar is a participant that never connects anywhere: it exists in the join response (with its video and
audio tracks) and in the msid of every subscriber connection's tracks. Clients each get their own
connections; they are not told about each other (HeyGen rooms have one viewer). Avatar events go to every
client as reliable data packets with the JSON event as payload; client data packets come back through
``on_client_data``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from livekit.protocol import models, rtc

from mockserver.config import Tier
from mockserver.media import MediaPlane
from mockserver.media.sdp import VideoCodec
from mockserver.rooms.participant import AvatarFeed, Participant, SignalChannel
from mockserver.rooms.tokens import RoomGrant

logger = logging.getLogger(__name__)

AVATAR_IDENTITY = "avatar"
#: LiveKit's protocol version this room speaks (the one livekit-client 2.11 announces).
PROTOCOL = 15
SERVER_VERSION = "1.8.4"
PING_INTERVAL_S = 5
PING_TIMEOUT_S = 15
_SID_ALPHABET = string.ascii_letters + string.digits


def new_sid(prefix: str) -> str:
    """A LiveKit-style id: ``RM_``/``PA_``/``TR_`` and 12 random characters."""
    return prefix + "".join(secrets.choice(_SID_ALPHABET) for _ in range(12))


class Room:
    """A session's room: its name is the session id."""

    def __init__(
        self,
        name: str,
        plane: MediaPlane,
        tier: Tier,
        codec: VideoCodec,
        on_connected: Callable[[], None],
        on_client_data: Callable[[bytes], None],
    ) -> None:
        self.name = name
        self.sid = new_sid("RM_")
        self.created_at = time.time()
        self.feed = AvatarFeed(plane, tier, codec, new_sid("PA_"), new_sid("TR_"), new_sid("TR_"))
        self._on_connected = on_connected
        self._on_client_data = on_client_data
        self._participants: dict[str, Participant] = {}
        self._talking = False
        self.closed = False

    # ---------------------------------------------------------------------------------------- joining

    async def join(self, grant: RoomGrant, channel: SignalChannel) -> Participant:
        """Add a client (replacing one with the same identity, as LiveKit does) and start its signalling."""
        old = self._participants.pop(grant.identity, None)
        if old is not None:
            await old.close(_leave(models.DUPLICATE_IDENTITY))
        participant = Participant(new_sid("PA_"), grant, channel, self._connected, self._data_from)
        self._participants[grant.identity] = participant
        try:
            await participant.start(self._join_response(participant), self.feed, self._talking)
        except BaseException:
            if self._participants.get(grant.identity) is participant:
                del self._participants[grant.identity]
            await participant.close(_leave(models.JOIN_FAILURE))
            raise
        return participant

    async def leave(self, participant: Participant) -> None:
        """The client left or its socket closed: drop its connections (the session itself goes on)."""
        if self._participants.get(participant.identity) is participant:
            del self._participants[participant.identity]
        await participant.close()

    def find(self, sid: str) -> Participant | None:
        return next((p for p in self._participants.values() if p.sid == sid), None)

    # -------------------------------------------------------------------------------------- the avatar

    def publish(self, event: dict[str, Any]) -> None:
        """An avatar event to every client, as a reliable data packet from the avatar participant."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        packet = models.DataPacket(
            kind=models.DataPacket.RELIABLE,
            participant_identity=AVATAR_IDENTITY,
            participant_sid=self.feed.participant_sid,
            user=models.UserPacket(
                participant_identity=AVATAR_IDENTITY, participant_sid=self.feed.participant_sid, payload=payload
            ),
        ).SerializeToString()
        for participant in self._participants.values():
            participant.send_data(packet)

    def set_talking(self, talking: bool) -> None:
        self._talking = talking
        for participant in self._participants.values():
            participant.set_talking(talking)

    # ------------------------------------------------------------------------------------------ closing

    async def close(self, reason: models.DisconnectReason = models.ROOM_DELETED) -> None:
        """Session over: every client gets ``leave`` (action DISCONNECT) and loses its connections."""
        self.closed = True
        participants = list(self._participants.values())
        self._participants.clear()
        await asyncio.gather(*(p.close(_leave(reason)) for p in participants), return_exceptions=True)

    def peer_count(self) -> int:
        return sum(p.peer_count() for p in self._participants.values())

    # -------------------------------------------------------------------------------------- internals

    def _join_response(self, participant: Participant) -> rtc.JoinResponse:
        return rtc.JoinResponse(
            room=models.Room(
                sid=self.sid,
                name=self.name,
                creation_time=int(self.created_at),
                creation_time_ms=int(self.created_at * 1000),
                num_participants=2,
                num_publishers=1,
                empty_timeout=300,
                departure_timeout=20,
            ),
            participant=participant.info(),
            other_participants=[self._avatar_info()],
            server_version=SERVER_VERSION,
            server_info=models.ServerInfo(
                edition=models.ServerInfo.Standard, version=SERVER_VERSION, protocol=PROTOCOL, node_id="ND_mock"
            ),
            subscriber_primary=True,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
        )

    def _avatar_info(self) -> models.ParticipantInfo:
        feed = self.feed
        video = models.TrackInfo(
            sid=feed.video_sid,
            type=models.VIDEO,
            name="avatar_video",
            source=models.CAMERA,
            width=feed.tier.width,
            height=feed.tier.height,
            mime_type=f"video/{feed.codec}",
            layers=[
                models.VideoLayer(
                    quality=models.HIGH,
                    width=feed.tier.width,
                    height=feed.tier.height,
                    bitrate=feed.tier.bitrate_kbps * 1000,
                )
            ],
        )
        audio = models.TrackInfo(
            sid=feed.audio_sid, type=models.AUDIO, name="avatar_audio", source=models.MICROPHONE, mime_type="audio/opus"
        )
        return models.ParticipantInfo(
            sid=feed.participant_sid,
            identity=AVATAR_IDENTITY,
            name="HeyGen avatar",
            state=models.ParticipantInfo.ACTIVE,
            tracks=[video, audio],
            joined_at=int(self.created_at),
            joined_at_ms=int(self.created_at * 1000),
            is_publisher=True,
            permission=models.ParticipantPermission(can_subscribe=True, can_publish=True, can_publish_data=True),
        )

    def _connected(self, participant: Participant) -> None:
        if self._participants.get(participant.identity) is participant:
            self._on_connected()

    def _data_from(self, participant: Participant, data: bytes) -> None:
        """A client's data packet: the payload of a user packet goes on; anything else is ignored."""
        try:
            packet = models.DataPacket.FromString(data)
        except Exception:  # protobuf raises DecodeError or assorted errors on junk
            logger.info("room %s: undecodable data packet from %s", self.name, participant.sid)
            return
        if packet.WhichOneof("value") == "user":
            self._on_client_data(packet.user.payload)


def _leave(reason: models.DisconnectReason) -> rtc.LeaveRequest:
    return rtc.LeaveRequest(can_reconnect=False, reason=reason, action=rtc.LeaveRequest.DISCONNECT)
