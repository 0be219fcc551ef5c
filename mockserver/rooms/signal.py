"""LiveKit's signalling endpoint: ``GET /rtc`` (WebSocket, binary protobuf) and ``GET /rtc/validate``.

The token comes in ``Authorization: Bearer`` (Python/Rust SDKs) or ``?access_token=`` (browsers) and is checked
before the upgrade, so a refused client gets LiveKit's HTTP status and reason. ``/rtc/v1`` (the single
connection mode newer SDKs try first) is deliberately not routed: its 404 makes them fall back to ``/rtc``.
A resume attempt (``reconnect=1``) is answered with ``leave`` (action RECONNECT) so the client rejoins at once.
"""

from __future__ import annotations

import contextlib
import logging

from aiohttp import WSMsgType, web
from google.protobuf.message import DecodeError
from livekit.protocol import models, rtc

from mockserver.api.common import service_of
from mockserver.media import MediaError
from mockserver.rooms.room import Room
from mockserver.rooms.sockets import QueuedSocket
from mockserver.rooms.tokens import RoomGrant, TokenRefused

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_SIGNAL_MESSAGE = 1 << 20
BEARER = "Bearer "


class WebSocketChannel:
    """A participant's signal socket: protobuf responses, sent in order without blocking the caller."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._socket = QueuedSocket(ws)

    def send(self, response: rtc.SignalResponse) -> None:
        self._socket.send_bytes(response.SerializeToString())

    async def close(self) -> None:
        await self._socket.close()


def authorize(request: web.Request) -> tuple[RoomGrant, Room]:
    """The caller's grant and room, or TokenRefused with LiveKit's status and reason."""
    hub = service_of(request).rooms
    header = request.headers.get("Authorization")
    if header is not None:
        if not header.startswith(BEARER):
            raise TokenRefused(401, "invalid authorization header. Must start with " + BEARER)
        token = header[len(BEARER) :].strip()
    else:
        token = request.query.get("access_token", "")
    if not token:
        raise TokenRefused(401, "no permissions to access the room")
    grant = hub.tokens.verify(token)
    room = hub.room(grant.room)
    if room is None or room.closed:
        raise TokenRefused(404, "requested room does not exist")
    return grant, room


@routes.get("/rtc/validate", name="rooms.validate")
async def validate(request: web.Request) -> web.Response:
    """What a client asks after a failed connect, to learn why (plain-text reason, LiveKit's status)."""
    try:
        authorize(request)
    except TokenRefused as refused:
        return web.Response(status=refused.status, text=refused.message)
    return web.Response(text="success")


@routes.get("/rtc", name="rooms.rtc")
async def signal(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_SIGNAL_MESSAGE)
    if not ws.can_prepare(request).ok:
        return web.Response(status=404)  # LiveKit answers plain HTTP on /rtc with 404
    try:
        grant, room = authorize(request)
    except TokenRefused as refused:
        return web.Response(status=refused.status, text=refused.message)
    await ws.prepare(request)
    channel = WebSocketChannel(ws)
    if request.query.get("reconnect") in ("1", "true"):
        await _refuse_resume(room, request.query.get("sid", ""), channel)
        return ws
    try:
        participant = await room.join(grant, channel)
    except MediaError as exc:  # the client was told (leave, JOIN_FAILURE)
        logger.warning("room %s: join failed: %s", room.name, exc)
        return ws
    try:
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue  # LiveKit's JSON signalling (a debugging mode) is not served
            try:
                request_message = rtc.SignalRequest.FromString(message.data)
            except DecodeError:
                logger.info("room %s: undecodable signal request", room.name)
                continue
            if not await participant.handle(request_message):
                break
    finally:
        with contextlib.suppress(Exception):
            await room.leave(participant)
    return ws


async def _refuse_resume(room: Room, sid: str, channel: WebSocketChannel) -> None:
    """No session resumption here: drop the stale participant and tell the client to rejoin from scratch."""
    stale = room.find(sid)
    if stale is not None:
        await room.leave(stale)
    leave = rtc.LeaveRequest(can_reconnect=True, reason=models.STATE_MISMATCH, action=rtc.LeaveRequest.RECONNECT)
    channel.send(rtc.SignalResponse(leave=leave))
    await channel.close()
