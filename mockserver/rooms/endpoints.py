"""The HTTP side of the chat and realtime WebSockets: who may connect; then the socket is handed over.

``/v1/ws/streaming.chat?session_id&session_token``: the ``streaming.create_token`` token the session was
created with (the official SDK sends its own). ``/v1/realtime?session_id``: a live v2 session (the 128-bit
session id is the capability, as the ``realtime_endpoint`` URL is all a client gets).
"""

from __future__ import annotations

from aiohttp import web

from avatar_contract.codes import ErrorCode
from mockserver.api.auth import UNAUTHORIZED
from mockserver.api.common import service_of
from mockserver.errors import ApiError, not_found
from mockserver.rooms import chat, realtime
from mockserver.rooms.sockets import QueuedSocket

routes = web.RouteTableDef()

MAX_CHAT_FRAME = 1 << 20
MAX_REALTIME_MESSAGE = 2 << 20


@routes.get("/v1/ws/streaming.chat", name="chat")
async def chat_socket(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    grant = service.registry.grant(request.query.get("session_token", ""))
    if grant is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, UNAUTHORIZED)
    session_id = request.query.get("session_id", "")
    session = service.registry.find(session_id)
    if session is None or grant.session_id != session_id or not session.live:
        raise not_found()
    ws = web.WebSocketResponse(max_msg_size=MAX_CHAT_FRAME)
    await ws.prepare(request)
    await chat.serve(ws, session, service.rooms, silence_prompt=request.query.get("silence_response") == "true")
    return ws


@routes.get("/v1/realtime", name="realtime")
async def realtime_socket(request: web.Request) -> web.StreamResponse:
    service = service_of(request)
    session = service.registry.find(request.query.get("session_id", ""))
    if session is None or session.version != "v2" or not session.live:
        raise not_found()
    ws = web.WebSocketResponse(max_msg_size=MAX_REALTIME_MESSAGE)
    await ws.prepare(request)
    agent = realtime.RealtimeAgent(session, service.registry, QueuedSocket(ws))
    await realtime.serve(ws, agent, service.rooms.realtime)
    return ws
