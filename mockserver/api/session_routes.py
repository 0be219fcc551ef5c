"""Session lifecycle endpoints: create_token, new, start, ice, stop, and the two session lists."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from avatar_contract.models import (
    HistoryQuery,
    IceRequest,
    NewSessionData,
    NewSessionRequest,
    SessionIdRequest,
    StartRequest,
)
from mockserver.api.auth import authenticate
from mockserver.api.common import base_url, body_of, caller, service_of, session_call
from mockserver.api.envelope import ok, validate
from mockserver.service import MockService
from mockserver.sessions import LIVE_STATES, Session

routes = web.RouteTableDef()


@routes.post("/v1/streaming.create_token", name="streaming.create_token")
async def create_token(request: web.Request) -> web.Response:
    service = service_of(request)
    principal = authenticate(request, service, allow_token=False)
    token = service.registry.issue_token(principal.api_key)
    return web.json_response({"error": None, "data": {"token": token}})


@routes.post("/v1/streaming.new", name="streaming.new")
async def new_session(request: web.Request) -> web.Response:
    service, principal = caller(request)
    body = await body_of(request, NewSessionRequest)
    base = base_url(request)
    session, offer = await service.new_session(principal, body)
    return ok(_new_session_data(service, session, offer, base))


def _new_session_data(service: MockService, session: Session, offer: str | None, base: str) -> dict[str, Any]:
    ws_base = "ws" + base.removeprefix("http")
    data: dict[str, Any] = {
        "session_id": session.session_id,
        "access_token": session.access_token,
        "url": ws_base,
        "session_duration_limit": int(service.settings.session_duration_limit_s),
        "is_paid": False,
    }
    if session.version == "v2":
        data["livekit_agent_token"] = session.agent_token or session.access_token
        data["realtime_endpoint"] = f"{ws_base}/v1/realtime?session_id={session.session_id}"
    else:
        ice_servers = service.media.ice_servers if service.media is not None else []
        data["ice_servers"] = ice_servers
        data["ice_servers2"] = ice_servers
        if offer:
            data["sdp"] = {"type": "offer", "sdp": offer}
    return NewSessionData.model_validate(data).model_dump(mode="json", exclude_none=True)


@routes.post("/v1/streaming.start", name="streaming.start")
async def start(request: web.Request) -> web.Response:
    service, body, session = await session_call(request, StartRequest)
    answer = await service.start(session, body.sdp)
    return ok({"sdp": {"type": "answer", "sdp": answer}} if answer else None)


@routes.post("/v1/streaming.ice", name="streaming.ice")
async def ice(request: web.Request) -> web.Response:
    service, body, session = await session_call(request, IceRequest)
    session.require("streaming.ice", LIVE_STATES)
    await service.add_ice(session, body.candidate.model_dump())
    return ok()


@routes.post("/v1/streaming.stop", name="streaming.stop")
async def stop(request: web.Request) -> web.Response:
    service, _, session = await session_call(request, SessionIdRequest)
    session.require("streaming.stop", LIVE_STATES)
    await service.registry.close(session, "stopped")
    return ok()


@routes.get("/v1/streaming.list", name="streaming.list")
async def list_live(request: web.Request) -> web.Response:
    service, principal = caller(request)
    sessions = [s.summary() for s in service.registry.visible_to(principal) if s.live]
    return ok({"sessions": sessions})


@routes.get("/v2/streaming.list", name="streaming.list.v2")
async def list_history(request: web.Request) -> web.Response:
    service, principal = caller(request)
    query = validate({k: _int_or_raw(v) for k, v in request.query.items()}, HistoryQuery)
    visible = sorted(service.registry.visible_to(principal), key=lambda s: s.created_at, reverse=True)
    start_at = (query.page - 1) * query.page_size
    page = visible[start_at : start_at + query.page_size]
    now = service.clock.monotonic()
    more = start_at + query.page_size < len(visible)
    return ok(
        {
            "total": len(visible),
            "page": query.page,
            "page_size": query.page_size,
            "next_pagination_token": str(query.page + 1) if more else None,
            "data": [
                {
                    **s.summary(),
                    "api_key_type": "token" if principal.token else "api_key",
                    "duration": int(s.seconds(now)),
                    "avatar_id": s.avatar_id,
                    "voice_name": s.voice_name,
                }
                for s in page
            ],
        }
    )


def _int_or_raw(value: str) -> int | str:
    """Query strings are text; page numbers are the one place the mock converts them."""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else value  # not "²"
