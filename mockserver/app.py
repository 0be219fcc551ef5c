"""The aiohttp application: routes, middlewares (errors, CORS, latency and faults, rate limit), start-up/shutdown."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from avatar_contract.codes import ErrorCode
from mockserver.api import admin_routes, avatar_routes, network_routes, openapi, session_routes, speech_routes
from mockserver.api.common import SERVICE
from mockserver.api.envelope import error_response
from mockserver.clock import Clock
from mockserver.config import Settings
from mockserver.errors import ApiError
from mockserver.media import MediaPlane, WorkerMediaPlane
from mockserver.rooms import endpoints, signal
from mockserver.service import MockService

log = logging.getLogger("mockserver")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.BODY_TOO_LARGE,
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as the contract's error envelope; a bug is logged and answered 500, never a crash."""
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, ErrorCode.INVALID_PARAMETER)
        message = {
            ErrorCode.NOT_FOUND: f"not found: {request.method} {request.path[:200]}",
            ErrorCode.METHOD_NOT_ALLOWED: f"method not allowed: {request.method} {request.path[:200]}",
            ErrorCode.BODY_TOO_LARGE: "request body too large",
        }.get(code, exc.reason)
        return error_response(ApiError(code, message))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path[:200])
        return error_response(ApiError(ErrorCode.INTERNAL, "internal error"))


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Browser apps on another origin may call the mock; preflights are answered here."""
    origins = request.app[SERVICE].settings.cors_origins
    origin = request.headers.get("Origin")
    allowed = origin is not None and ("*" in origins or origin in origins)
    if request.method == "OPTIONS" and allowed and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Content-Type, Authorization, X-Api-Key"
        )
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        response = await handler(request)
    if allowed and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin if "*" not in origins else "*"
        response.headers["Vary"] = "Origin"
    return response


@web.middleware
async def traffic_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Per endpoint: rate limit, then added latency (fault, else latency profile), then injected errors."""
    route = request.match_info.route
    op = route.name if route is not None else None
    if op is None or not op.startswith("streaming."):
        return await handler(request)
    service = request.app[SERVICE]
    rate = service.settings.rate_limit_per_s
    if rate is not None:
        caller = hashlib.sha256(
            (request.headers.get("X-Api-Key") or request.headers.get("Authorization") or "").encode()
        ).hexdigest()
        if not service.rate_limiter.allow(caller, rate, service.clock.monotonic()):
            raise ApiError(ErrorCode.RATE_LIMITED, "rate limit exceeded")
    delay = service.faults.added_latency(op, service.rng)
    if delay is None:
        delay = service.settings.latency.for_endpoint(op).sample(service.rng)
    if delay > 0:
        await service.clock.sleep(delay)
    service.faults.maybe_fail(op, service.rng)
    return await handler(request)


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, media: bool | None = None
) -> web.Application:
    """Build the mock. ``media=False`` leaves out the WebRTC plane (control-plane-only, e.g. unit tests)."""
    settings = settings or Settings()
    use_media = settings.media.enabled if media is None else media
    plane: MediaPlane | None = None
    if use_media:  # more than one media worker: peers run in child processes
        plane = WorkerMediaPlane(settings) if settings.media.workers > 1 else MediaPlane(settings)
    service = MockService(settings, clock=clock, media=plane)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[cors_middleware, errors_middleware, traffic_middleware],
    )
    app[SERVICE] = service
    for module in (session_routes, speech_routes, avatar_routes, admin_routes, openapi, signal, endpoints):
        app.add_routes(module.routes)
    app.add_routes(network_routes.routes)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await service.start_up()
        yield
        await service.shut_down()

    app.cleanup_ctx.append(lifecycle)
    return app
