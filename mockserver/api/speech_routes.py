"""Talking endpoints: task, interrupt, keep_alive, start_listening, stop_listening."""

from __future__ import annotations

import asyncio

from aiohttp import web

from avatar_contract.codes import ErrorCode
from avatar_contract.models import SessionIdRequest, TaskRequest
from mockserver.api.common import session_call
from mockserver.api.envelope import ok
from mockserver.errors import ApiError
from mockserver.sessions import ACTIVE_STATES, LIVE_STATES

routes = web.RouteTableDef()


@routes.post("/v1/streaming.task", name="streaming.task")
async def task(request: web.Request) -> web.Response:
    service, body, session = await session_call(request, TaskRequest)
    session.require("streaming.task", ACTIVE_STATES)
    limit = service.settings.speech.max_text_chars
    if not body.text.strip():
        raise ApiError(ErrorCode.INVALID_PARAMETER, "invalid parameter: text: must not be empty")
    if len(body.text) > limit:
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: text: longer than {limit} characters")
    speech = service.registry.speak(session, body.text, body.task_type)
    if body.task_mode == "sync":
        # The caller waits for the speech to end; a client that hangs up does not cancel the speech.
        await asyncio.shield(speech.done)
    return ok({"duration_ms": speech.duration_ms, "task_id": speech.task_id})


@routes.post("/v1/streaming.interrupt", name="streaming.interrupt")
async def interrupt(request: web.Request) -> web.Response:
    service, _, session = await session_call(request, SessionIdRequest)
    session.require("streaming.interrupt", ACTIVE_STATES)
    service.registry.interrupt(session)
    return ok()


@routes.post("/v1/streaming.keep_alive", name="streaming.keep_alive")
async def keep_alive(request: web.Request) -> web.Response:
    service, _, session = await session_call(request, SessionIdRequest)
    session.require("streaming.keep_alive", LIVE_STATES)
    service.registry.touch(session)
    return ok()


@routes.post("/v1/streaming.start_listening", name="streaming.start_listening")
async def start_listening(request: web.Request) -> web.Response:
    return await _set_listening(request, True)


@routes.post("/v1/streaming.stop_listening", name="streaming.stop_listening")
async def stop_listening(request: web.Request) -> web.Response:
    return await _set_listening(request, False)


async def _set_listening(request: web.Request, listening: bool) -> web.Response:
    service, _, session = await session_call(request, SessionIdRequest)
    op = "streaming.start_listening" if listening else "streaming.stop_listening"
    session.require(op, ACTIVE_STATES)
    if session.listening != listening:
        session.listening = listening
        service.registry.emit(session, {"type": "avatar_start_listening" if listening else "avatar_stop_listening"})
    service.registry.touch(session)
    return ok()
