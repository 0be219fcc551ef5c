"""One client in a room: its signal requests answered, its two peer connections, its end.

After the join response the server offers the subscriber connection right away (``subscriber_primary``): the
client counts as connected when that connection is. Requests handled: ``answer``, ``offer`` (publisher),
``trickle`` both targets, ``ping``/``ping_req``, ``leave``; the rest (track settings, subscriptions, layers,
mute, sync state) are accepted and ignored.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from livekit.protocol import models, rtc

from mockserver.config import Tier
from mockserver.media import MediaError, MediaPlane
from mockserver.media.sdp import VideoCodec
from mockserver.rooms.tokens import RoomGrant
from mockserver.rooms.transport import CandidateInit, Publisher, Subscriber

logger = logging.getLogger(__name__)

SUBSCRIBER_OFFER_ID = 1


class SignalChannel(Protocol):
    """The participant's signal WebSocket as the room sees it: ordered sends, and a close."""

    def send(self, response: rtc.SignalResponse) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class AvatarFeed:
    """What a subscriber connection carries: the avatar's replayed media, and the sids the client knows it by."""

    plane: MediaPlane
    tier: Tier
    codec: VideoCodec
    participant_sid: str
    video_sid: str
    audio_sid: str


class Participant:
    """A client participant (``sid``/``identity`` from its token) and its connections."""

    def __init__(
        self,
        sid: str,
        grant: RoomGrant,
        channel: SignalChannel,
        on_connected: Callable[[Participant], None],
        on_data: Callable[[Participant, bytes], None],
    ) -> None:
        self.sid = sid
        self.identity = grant.identity
        self.name = grant.name
        self.kind = grant.kind
        self.joined_at = time.time()
        self.channel = channel
        self._on_connected = on_connected
        self._on_data = on_data
        self.subscriber = Subscriber(self._subscriber_state, lambda data: on_data(self, data))
        self.publisher: Publisher | None = None
        self.closed = False

    def info(self) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            state=models.ParticipantInfo.JOINED,
            joined_at=int(self.joined_at),
            joined_at_ms=int(self.joined_at * 1000),
            kind=models.ParticipantInfo.AGENT if self.kind == "agent" else models.ParticipantInfo.STANDARD,
            permission=models.ParticipantPermission(can_subscribe=True, can_publish=True, can_publish_data=True),
        )

    async def start(self, join: rtc.JoinResponse, feed: AvatarFeed, talking: bool) -> None:
        """Join response first, then the subscriber offer and its candidates."""
        self.channel.send(rtc.SignalResponse(join=join))
        stream_ids = (feed.participant_sid, feed.video_sid, feed.audio_sid)
        text, candidates = await self.subscriber.offer(feed.plane, feed.tier, feed.codec, stream_ids, talking)
        if self.closed:
            return
        offer = rtc.SessionDescription(type="offer", sdp=text, id=SUBSCRIBER_OFFER_ID)
        self.channel.send(rtc.SignalResponse(offer=offer))
        self._trickle(candidates, rtc.SUBSCRIBER)

    async def handle(self, request: rtc.SignalRequest) -> bool:
        """Act on one signal request; False once the client has left."""
        kind = request.WhichOneof("message")
        logger.debug("participant %s: %s", self.sid, kind)
        try:
            if kind == "answer":
                await self.subscriber.accept_answer(request.answer.sdp)
            elif kind == "offer":
                await self._answer_publisher(request.offer)
            elif kind == "trickle":
                await self._add_candidate(request.trickle)
            elif kind == "ping":
                self.channel.send(rtc.SignalResponse(pong=int(time.time() * 1000)))
            elif kind == "ping_req":
                pong = rtc.Pong(last_ping_timestamp=request.ping_req.timestamp, timestamp=int(time.time() * 1000))
                self.channel.send(rtc.SignalResponse(pong_resp=pong))
            elif kind == "leave":
                return False
        except MediaError as exc:
            logger.info("participant %s: %s refused: %s", self.sid, kind, exc)
        return True

    def send_data(self, data: bytes) -> None:
        self.subscriber.send(data)

    def set_talking(self, talking: bool) -> None:
        if self.subscriber.media is not None:
            self.subscriber.media.set_talking(talking)

    def peer_count(self) -> int:
        return sum(1 for t in (self.subscriber, self.publisher) if t is not None and t.state != "closed")

    async def close(self, leave: rtc.LeaveRequest | None = None) -> None:
        """Tell the client why (``leave``) when the server ends it, then close its connections and socket."""
        if self.closed:
            return
        self.closed = True
        if leave is not None:
            self.channel.send(rtc.SignalResponse(leave=leave))
        for transport in (self.subscriber, self.publisher):
            if transport is not None:
                await transport.close()
        await self.channel.close()

    async def _answer_publisher(self, offer: rtc.SessionDescription) -> None:
        text, candidates = await self._publisher().answer(offer.sdp)
        answer = rtc.SessionDescription(type="answer", sdp=text, id=offer.id)
        self.channel.send(rtc.SignalResponse(answer=answer))
        self._trickle(candidates, rtc.PUBLISHER)

    async def _add_candidate(self, trickle: rtc.TrickleRequest) -> None:
        try:
            init = json.loads(trickle.candidateInit)
        except ValueError:
            raise MediaError("ice: candidateInit is not JSON") from None
        transport = self.subscriber if trickle.target == rtc.SUBSCRIBER else self._publisher()
        await transport.add_candidate(init)

    def _publisher(self) -> Publisher:
        """Made on first use: clients may trickle its candidates before its offer arrives."""
        if self.publisher is None:
            self.publisher = Publisher(lambda data: self._on_data(self, data))
        return self.publisher

    def _trickle(self, candidates: list[CandidateInit], target: rtc.SignalTarget) -> None:
        for init in candidates:
            trickle = rtc.TrickleRequest(candidateInit=json.dumps(init), target=target)
            self.channel.send(rtc.SignalResponse(trickle=trickle))

    def _subscriber_state(self, state: str) -> None:
        if state == "connected":
            self._on_connected(self)
        elif state == "failed":
            logger.info("participant %s: subscriber connection failed", self.sid)
