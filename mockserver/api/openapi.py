"""``GET /openapi.json``: the mock's contract, generated from the same models it validates with."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from avatar_contract import models as m
from avatar_contract.codes import ErrorCode

routes = web.RouteTableDef()

#: (method, path, request model, ``data`` model, summary)
ENDPOINTS: list[tuple[str, str, type[BaseModel] | None, type[BaseModel] | None, str]] = [
    ("post", "/v1/streaming.create_token", None, m.CreateTokenData, "Create a single-use session token"),
    ("post", "/v1/streaming.new", m.NewSessionRequest, m.NewSessionData, "Create a session (v1 or v2)"),
    ("post", "/v1/streaming.start", m.StartRequest, m.StartData, "Start media (answer, or offer in the seed flow)"),
    ("post", "/v1/streaming.ice", m.IceRequest, None, "Trickle a client ICE candidate"),
    ("post", "/v1/streaming.task", m.TaskRequest, m.TaskData, "Make the avatar speak"),
    ("post", "/v1/streaming.interrupt", m.SessionIdRequest, None, "Interrupt the current speech"),
    ("post", "/v1/streaming.keep_alive", m.SessionIdRequest, None, "Reset the idle timer"),
    ("post", "/v1/streaming.stop", m.SessionIdRequest, None, "Stop the session"),
    ("post", "/v1/streaming.start_listening", m.SessionIdRequest, None, "Avatar starts listening"),
    ("post", "/v1/streaming.stop_listening", m.SessionIdRequest, None, "Avatar stops listening"),
    ("get", "/v1/streaming.list", None, m.SessionListData, "The caller's live sessions"),
    ("get", "/v2/streaming.list", None, m.SessionHistoryPage, "Session history, paginated"),
    ("get", "/v1/streaming/avatar.list", None, None, "Avatars that can stream"),
]


def build_openapi() -> dict[str, Any]:
    models = {model for _, _, req, data, _ in ENDPOINTS for model in (req, data) if model is not None}
    models.add(m.AvatarInfo)
    _, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda x: x.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, Any] = {}
    for method, path, request_model, data_model, summary in ENDPOINTS:
        operation: dict[str, Any] = {
            "operationId": path.rsplit("/", 1)[-1].replace(".", "_") + ("_v2" if path.startswith("/v2") else ""),
            "summary": summary,
            "security": [{"ApiKey": []}, {"Bearer": []}],
            "responses": {
                "200": _envelope(_data_schema(path, data_model)),
                "400": {"$ref": "#/components/responses/Error"},
                "401": {"$ref": "#/components/responses/Error"},
            },
        }
        if request_model is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{request_model.__name__}"}}},
            }
        if path == "/v2/streaming.list":
            operation["parameters"] = [
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
            ]
        paths[path] = {method: operation}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Streaming avatar API (Streaming Avatar Testkit mock)", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
            "responses": {
                "Error": {
                    "description": "Contract error envelope",
                    "content": {"application/json": {"schema": _error_schema()}},
                }
            },
        },
    }


def _data_schema(path: str, data_model: type[BaseModel] | None) -> dict[str, Any]:
    if path == "/v1/streaming/avatar.list":
        return {"type": "array", "items": {"$ref": "#/components/schemas/AvatarInfo"}}
    if data_model is None:
        return {"type": "null"}
    return {"$ref": f"#/components/schemas/{data_model.__name__}"}


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "code": {"type": "integer", "const": ErrorCode.SUCCESS.value},
            "message": {"type": "string"},
            "error": {"type": "null"},
            "data": data,
        },
    }
    return {"description": "Success envelope", "content": {"application/json": {"schema": schema}}}


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer", "enum": sorted(c.value for c in ErrorCode if c is not ErrorCode.SUCCESS)},
            "message": {"type": "string"},
            "error": {"type": "string"},
            "data": {"type": "null"},
        },
    }


@routes.get("/openapi.json", name="openapi")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_openapi())
