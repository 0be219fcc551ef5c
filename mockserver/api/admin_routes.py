"""``/__admin/``: what a test needs to steer the mock: reset, settings, sessions, events, usage, faults, kills.

Served only to loopback callers, and only when enabled (by default: when the mock itself binds loopback).
Keys appear masked; tokens never appear.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from aiohttp import web

from avatar_contract.codes import ErrorCode
from mockserver.api.common import json_of, service_of
from mockserver.api.envelope import ok, validate
from mockserver.config import Settings, mask_secret
from mockserver.errors import ApiError
from mockserver.faults import FaultTable
from mockserver.procinfo import process_info
from mockserver.service import MockService
from mockserver.sessions import Session

routes = web.RouteTableDef()


def admin_service(request: web.Request) -> MockService:
    service = service_of(request)
    if not service.settings.admin_active:
        raise ApiError(ErrorCode.NOT_FOUND, f"not found: {request.path}")
    if not _is_loopback(request.remote):
        raise ApiError(ErrorCode.FORBIDDEN, "forbidden: the admin API answers loopback callers only")
    return service


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def _session_view(service: MockService, session: Session) -> dict[str, Any]:
    return {
        **session.summary(),
        "api_key": mask_secret(session.api_key),
        "version": session.version,
        "quality": session.quality,
        "video_encoding": session.codec,
        "avatar_id": session.avatar_id,
        "close_reason": session.close_reason,
        "seconds": round(session.seconds(service.clock.monotonic()), 3),
        "talking": session.current is not None,
        "queued_tasks": len(session.queue),
        "listening": session.listening,
        "has_media": session.media is not None,
    }


def _find(service: MockService, request: web.Request) -> Session:
    session = service.registry.find(request.match_info["session_id"])
    if session is None:
        raise ApiError(ErrorCode.SESSION_NOT_FOUND, "session not found")
    return session


@routes.post("/__admin/reset", name="admin.reset")
async def reset(request: web.Request) -> web.Response:
    await admin_service(request).reset()
    return ok()


@routes.get("/__admin/settings", name="admin.settings")
async def get_settings(request: web.Request) -> web.Response:
    return ok(admin_service(request).settings.public_dump())


@routes.route("PATCH", "/__admin/settings", name="admin.settings.patch")
@routes.put("/__admin/settings", name="admin.settings.put")
async def update_settings(request: web.Request) -> web.Response:
    """Merge the given fields into the live settings (host/port changes take effect on the next start)."""
    service = admin_service(request)
    patch = await json_of(request)
    if not isinstance(patch, dict):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "invalid parameter: body must be a JSON object")
    service.update_settings(validate(_deep_merge(service.settings.model_dump(), patch), Settings))
    return ok(service.settings.public_dump())


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key not in _REPLACED_WHOLE:
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


#: Maps whose keys are data (a key, a profile name): a patch replaces them whole so entries can be removed.
_REPLACED_WHOLE = {"concurrency_limits"}


@routes.get("/__admin/sessions", name="admin.sessions")
async def sessions(request: web.Request) -> web.Response:
    service = admin_service(request)
    return ok({"sessions": [_session_view(service, s) for s in service.registry]})


@routes.get("/__admin/sessions/{session_id}", name="admin.session")
async def session_detail(request: web.Request) -> web.Response:
    service = admin_service(request)
    return ok(_session_view(service, _find(service, request)))


@routes.get("/__admin/sessions/{session_id}/events", name="admin.session.events")
async def session_events(request: web.Request) -> web.Response:
    service = admin_service(request)
    return ok({"events": list(_find(service, request).events)})


@routes.post("/__admin/sessions/{session_id}/kill", name="admin.session.kill")
async def kill_session(request: web.Request) -> web.Response:
    """End a session now, as if the service dropped it: media closes, later calls get 10005."""
    service = admin_service(request)
    session = _find(service, request)
    await service.registry.close(session, "killed")
    return ok(_session_view(service, session))


@routes.get("/__admin/usage", name="admin.usage")
async def usage(request: web.Request) -> web.Response:
    service = admin_service(request)
    return ok({"usage": {mask_secret(k): round(v, 3) for k, v in service.registry.usage().items()}})


@routes.get("/__admin/stats", name="admin.stats")
async def stats(request: web.Request) -> web.Response:
    return ok(admin_service(request).stats())


@routes.get("/__admin/process", name="admin.process")
async def process(request: web.Request) -> web.Response:
    """The mock process's RSS, file descriptors, asyncio tasks and threads (soak tests watch these)."""
    admin_service(request)
    return ok(process_info())


@routes.get("/__admin/faults", name="admin.faults")
async def get_faults(request: web.Request) -> web.Response:
    return ok(admin_service(request).faults.model_dump(mode="json"))


@routes.put("/__admin/faults", name="admin.faults.put")
async def put_faults(request: web.Request) -> web.Response:
    """Replace the fault table: ``{"endpoints": {"streaming.new": {"error_rate": 1, "error_code": 10007}}}``."""
    service = admin_service(request)
    service.faults = validate(await json_of(request), FaultTable)
    return ok(service.faults.model_dump(mode="json"))


@routes.delete("/__admin/faults", name="admin.faults.delete")
async def clear_faults(request: web.Request) -> web.Response:
    admin_service(request).faults = FaultTable()
    return ok()
