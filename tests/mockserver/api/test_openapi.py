"""``/openapi.json`` covers every public route and its schemas validate what the mock really answers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from avatar_contract.models import NewSessionData, TaskData
from mockserver.api.openapi import build_openapi
from tests.mockserver.helpers import call, started_session


async def test_every_streaming_route_is_documented(api: TestClient) -> None:
    spec = await (await api.get("/openapi.json")).json()
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in api.app.router.routes()
        if route.resource is not None
        and "streaming" in route.resource.canonical
        and route.method != "HEAD"
        and not route.resource.canonical.startswith("/v1/ws/")  # WebSocket endpoints are not REST operations
    }
    assert served == documented


def test_schemas_are_resolvable() -> None:
    spec = build_openapi()
    schemas = spec["components"]["schemas"]
    text = str(spec)
    for name in ("NewSessionRequest", "TaskRequest", "NewSessionData", "SessionHistoryPage", "AvatarInfo"):
        assert name in schemas and f"#/components/schemas/{name}" in text


async def test_responses_parse_with_the_documented_models(api: TestClient) -> None:
    _, body = await call(api, "new", {})
    NewSessionData.model_validate(body["data"])
    sid = await started_session(api)
    _, body = await call(api, "task", {"session_id": sid, "text": "Hi.", "task_mode": "async"})
    TaskData.model_validate(body["data"])
