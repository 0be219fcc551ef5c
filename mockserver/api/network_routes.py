"""``/__admin/network``: make the network between the mock and its clients bad on purpose, globally or per session.

A body names a profile from ``settings.network_profiles`` and/or gives ``NetworkConditions`` fields, which
override the profile's: ``{"profile": "regular-3g"}``, ``{"loss_percent": 5}``,
``{"profile": "regular-3g", "loss_percent": 5}``. Conditions change mid-session and take effect at once.
Global conditions apply to every session without its own; ``DELETE`` clears. Same admin rules as
``admin_routes`` (loopback callers only, when the admin API is enabled).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from avatar_contract.codes import ErrorCode
from mockserver.api.admin_routes import admin_service
from mockserver.api.common import json_of
from mockserver.api.envelope import ok, validate
from mockserver.config import NetworkConditions
from mockserver.errors import ApiError
from mockserver.media import MediaPlane
from mockserver.service import MockService
from mockserver.sessions import Session

routes = web.RouteTableDef()


def _plane(service: MockService) -> MediaPlane:
    if service.media is None:
        raise ApiError(ErrorCode.INVALID_PARAMETER, "invalid parameter: the mock runs without a media plane")
    return service.media


def _peer(service: MockService, request: web.Request) -> Any:
    """The session's WebRTC peer (an AvatarPeer, or a stand-in with the same methods)."""
    session = _session(service, request)
    if session.media is None:
        raise ApiError(
            ErrorCode.INVALID_PARAMETER,
            "invalid parameter: this session has no WebRTC peer (closed, v2 room, or started without SDP)",
        )
    return session.media


def _session(service: MockService, request: web.Request) -> Session:
    session = service.registry.find(request.match_info["session_id"])
    if session is None:
        raise ApiError(ErrorCode.SESSION_NOT_FOUND, "session not found")
    return session


async def _conditions(service: MockService, request: web.Request) -> NetworkConditions:
    """A profile by name, with any fields given overriding it."""
    body = await json_of(request)
    if not isinstance(body, dict):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "invalid parameter: body must be a JSON object")
    name = body.get("profile")
    if name is None:
        return validate(body, NetworkConditions)
    profiles = service.settings.network_profiles
    if not isinstance(name, str) or name not in profiles:
        known = ", ".join(sorted(profiles))
        raise ApiError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: profile: unknown {name!r} (known: {known})")
    return validate({**profiles[name].model_dump(), **body}, NetworkConditions)


def _dump(conditions: NetworkConditions | None) -> dict[str, Any] | None:
    return conditions.model_dump(mode="json") if conditions is not None else None


def _global_view(plane: MediaPlane) -> dict[str, Any]:
    return {"conditions": _dump(plane.network)}


def _session_view(service: MockService, session_id: str, peer: Any) -> dict[str, Any]:
    own: NetworkConditions | None = peer.network
    return {
        "session_id": session_id,
        "conditions": _dump(own),
        "effective": _dump(own if own is not None else _plane(service).network),
        "stats": {k: v for k, v in peer.stats().items() if k.startswith("network_")},
    }


@routes.get("/__admin/network/profiles", name="admin.network.profiles")
async def profiles(request: web.Request) -> web.Response:
    service = admin_service(request)
    return ok({"profiles": {name: _dump(c) for name, c in service.settings.network_profiles.items()}})


@routes.get("/__admin/network", name="admin.network")
async def get_network(request: web.Request) -> web.Response:
    return ok(_global_view(_plane(admin_service(request))))


@routes.put("/__admin/network", name="admin.network.put")
async def put_network(request: web.Request) -> web.Response:
    """Global conditions: every session without its own, open or future."""
    service = admin_service(request)
    plane = _plane(service)
    plane.set_network(await _conditions(service, request))
    return ok(_global_view(plane))


@routes.delete("/__admin/network", name="admin.network.delete")
async def clear_network(request: web.Request) -> web.Response:
    service = admin_service(request)
    if service.media is not None:
        service.media.set_network(None)
    return ok({"conditions": None})


@routes.get("/__admin/sessions/{session_id}/network", name="admin.session.network")
async def get_session_network(request: web.Request) -> web.Response:
    service = admin_service(request)
    return ok(_session_view(service, request.match_info["session_id"], _peer(service, request)))


@routes.put("/__admin/sessions/{session_id}/network", name="admin.session.network.put")
async def put_session_network(request: web.Request) -> web.Response:
    """This session's own conditions (they win over the global ones). Seed flow: ``streaming.start`` replaces
    the session's peer, so set them after it."""
    service = admin_service(request)
    peer = _peer(service, request)
    peer.set_network(await _conditions(service, request))
    return ok(_session_view(service, request.match_info["session_id"], peer))


@routes.delete("/__admin/sessions/{session_id}/network", name="admin.session.network.delete")
async def clear_session_network(request: web.Request) -> web.Response:
    """Back to the global conditions."""
    service = admin_service(request)
    peer = _peer(service, request)
    peer.set_network(None)
    return ok(_session_view(service, request.match_info["session_id"], peer))
