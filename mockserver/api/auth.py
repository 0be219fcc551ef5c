"""Who is calling: ``X-Api-Key`` (server side) or ``Authorization: Bearer <token>`` (browser SDK)."""

from __future__ import annotations

from aiohttp import web

from avatar_contract.codes import ErrorCode
from mockserver.errors import ApiError
from mockserver.service import MockService
from mockserver.sessions import Principal

UNAUTHORIZED = "unauthorized: missing or invalid credentials"


def authenticate(request: web.Request, service: MockService, allow_token: bool = True) -> Principal:
    """The caller's principal, or 401/400112. Keys and tokens are never echoed back."""
    key = request.headers.get("X-Api-Key", "").strip()
    if key:
        if service.settings.api_keys and key not in service.settings.api_keys:
            raise ApiError(ErrorCode.UNAUTHORIZED, UNAUTHORIZED)
        return Principal(api_key=key)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if allow_token and scheme.lower() == "bearer" and token:
        grant = service.registry.grant(token)
        if grant is not None:
            return Principal(api_key=grant.api_key, token=token)
    raise ApiError(ErrorCode.UNAUTHORIZED, UNAUTHORIZED)
