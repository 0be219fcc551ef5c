"""Middlewares: errors are contract-shaped, CORS, body limit, unknown routes/methods, rate limit."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient

from tests.conftest import KEY
from tests.mockserver.helpers import admin, call


async def test_unknown_route_and_method(api: TestClient) -> None:
    response = await api.get("/v1/streaming.nope")
    body = await response.json()
    assert (response.status, body["code"], body["data"]) == (404, 404, None)
    response = await api.get("/v1/streaming.new", headers={"X-Api-Key": KEY})
    assert response.status == 405 and (await response.json())["code"] == 405


async def test_bad_bodies(api: TestClient) -> None:
    headers = {"X-Api-Key": KEY, "Content-Type": "application/json"}
    for raw in (b"{not json", b"[]", b'"text"', b"\xff\xfe", b"null"):
        response = await api.post("/v1/streaming.new", data=raw, headers=headers)
        body = await response.json()
        assert (response.status, body["code"]) == (400, 400175), raw


async def test_empty_body_means_defaults(api: TestClient) -> None:
    response = await api.post("/v1/streaming.new", data=b"", headers={"X-Api-Key": KEY})
    assert response.status == 200


async def test_oversized_body_is_413(api: TestClient) -> None:
    big = b'{"text": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = await api.post("/v1/streaming.task", data=big, headers={"X-Api-Key": KEY})
    body = await response.json()
    assert (response.status, body["code"]) == (413, 413)
    assert (await admin(api, "GET", "stats"))["sessions_live"] == 0


async def test_cors_preflight_and_headers(api: TestClient) -> None:
    preflight = await api.options(
        "/v1/streaming.new",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]
    response = await api.post("/v1/streaming.new", json={}, headers={"Origin": "http://app.example"})
    assert response.status == 401 and response.headers["Access-Control-Allow-Origin"] == "*"


async def test_cors_restricted_origins(api: TestClient) -> None:
    await admin(api, "PATCH", "settings", {"cors_origins": ["http://good.example"]})
    good = await api.get("/openapi.json", headers={"Origin": "http://good.example"})
    assert good.headers["Access-Control-Allow-Origin"] == "http://good.example"
    bad = await api.get("/openapi.json", headers={"Origin": "http://bad.example"})
    assert "Access-Control-Allow-Origin" not in bad.headers


async def test_rate_limit_answers_429(api: TestClient) -> None:
    await admin(api, "PATCH", "settings", {"rate_limit_per_s": 2})
    statuses = [(await call(api, "keep_alive", {"session_id": "x"}))[0] for _ in range(4)]
    assert statuses[:2] == [400, 400] and statuses[-1] == 429
    _, body = await call(api, "keep_alive", {"session_id": "x"})
    assert body["code"] == 400140


async def test_slow_bodies_are_cut_off(api: TestClient) -> None:
    """A client that announces a body and trickles it (slow-loris) gets 408, not a held connection."""
    await admin(api, "PATCH", "settings", {"body_read_timeout_s": 0.2})

    async def trickle():  # type: ignore[no-untyped-def]
        yield b'{"quality": '
        await asyncio.sleep(1.0)
        yield b'"low"}'

    response = await api.post("/v1/streaming.new", data=trickle(), headers={"X-Api-Key": KEY})
    body = await response.json()
    assert (response.status, body["code"]) == (408, 408)
