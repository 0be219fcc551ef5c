"""The contract's JSON envelopes and request-body parsing into contract models."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from avatar_contract.codes import ErrorCode
from mockserver.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def ok(data: Any = None) -> web.Response:
    """``{"code": 100, "message": "success", "data": ...}`` (+ ``"error": null`` for seed-style clients)."""
    return web.json_response({"code": ErrorCode.SUCCESS.value, "message": "success", "data": data, "error": None})


def error_response(err: ApiError) -> web.Response:
    body = {"code": err.code.value, "message": err.message, "data": None, "error": err.message}
    return web.json_response(body, status=err.code.http_status)


async def parse_body(request: web.Request, model: type[M], read_timeout_s: float) -> M:
    """Read and validate a JSON body; an empty body counts as ``{}``. Errors name the offending field."""
    return validate(await parse_json(request, read_timeout_s), model)


async def parse_json(request: web.Request, read_timeout_s: float) -> Any:
    """The body as JSON; a body that trickles in slower than ``read_timeout_s`` is refused (slow-loris)."""
    try:
        raw = await asyncio.wait_for(request.read(), read_timeout_s)
    except TimeoutError:
        raise ApiError(ErrorCode.REQUEST_TIMEOUT, "request body not received in time") from None
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "invalid parameter: body is not valid JSON") from None


def validate(payload: Any, model: type[M]) -> M:
    if not isinstance(payload, dict):
        raise ApiError(ErrorCode.INVALID_PARAMETER, "invalid parameter: body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise _as_api_error(exc) from None


def _as_api_error(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_url=False, include_input=False)
    missing = [e for e in errors if e["type"] == "missing"]
    first = (missing or errors)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    if missing:
        return ApiError(ErrorCode.MISSING_PARAMETER, f"missing required parameter: {where}")
    return ApiError(ErrorCode.INVALID_PARAMETER, f"invalid parameter: {where}: {_short(first['msg'])}")


def _short(message: str) -> str:
    return message if len(message) <= 160 else message[:157] + "..."
