"""What every handler needs: the service, the caller (authenticated first), the body, the caller's session."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from avatar_contract.models import SessionIdRequest
from mockserver.api.auth import authenticate
from mockserver.api.envelope import parse_body, parse_json
from mockserver.service import MockService
from mockserver.sessions import Principal, Session

SERVICE = web.AppKey("service", MockService)
B = TypeVar("B", bound=SessionIdRequest)
M = TypeVar("M", bound=BaseModel)


def service_of(request: web.Request) -> MockService:
    return request.app[SERVICE]


def caller(request: web.Request) -> tuple[MockService, Principal]:
    service = service_of(request)
    return service, authenticate(request, service)


async def session_call(request: web.Request, model: type[B]) -> tuple[MockService, B, Session]:
    """Authenticate, parse the body, then find the caller's session (401 before 400 before 10006)."""
    service, principal = caller(request)
    body = await body_of(request, model)
    return service, body, service.registry.get(principal, body.session_id)


async def body_of(request: web.Request, model: type[M]) -> M:
    return await parse_body(request, model, service_of(request).settings.body_read_timeout_s)


async def json_of(request: web.Request) -> Any:
    return await parse_json(request, service_of(request).settings.body_read_timeout_s)


def base_url(request: web.Request) -> str:
    """Where clients reach this mock (for ``url``/``realtime_endpoint``): the configured public URL or the Host."""
    configured = service_of(request).settings.public_url
    return (configured or f"{request.scheme}://{request.host}").rstrip("/")
