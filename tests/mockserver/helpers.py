"""Small request helpers for the control-plane tests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import KEY


async def call(api: TestClient, op: str, body: Any = None, key: str | None = KEY, **headers: str) -> tuple[int, Any]:
    """POST ``/v1/streaming.<op>``; returns (status, JSON body)."""
    if key is not None:
        headers["X-Api-Key"] = key
    response = await api.post(f"/v1/streaming.{op}", json=body if body is not None else {}, headers=headers)
    return response.status, await response.json()


async def new_session(api: TestClient, key: str = KEY, **fields: Any) -> str:
    status, body = await call(api, "new", fields, key=key)
    assert status == 200, body
    return str(body["data"]["session_id"])


async def started_session(api: TestClient, key: str = KEY, **fields: Any) -> str:
    session_id = await new_session(api, key=key, **fields)
    status, body = await call(api, "start", {"session_id": session_id}, key=key)
    assert status == 200, body
    return session_id


async def admin(api: TestClient, method: str, path: str, body: Any = None) -> Any:
    response = await api.request(method, f"/__admin/{path}", json=body)
    payload = await response.json()
    assert response.status == 200, payload
    return payload["data"]
