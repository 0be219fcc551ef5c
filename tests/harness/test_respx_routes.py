"""Canned respx routes: a REST-only client can be unit-tested without any server, with contract-valid data."""

from __future__ import annotations

import httpx
import pytest
import respx

from harness import StreamingClient, errors
from harness.respx_routes import ENDPOINTS, mock_streaming_api


async def test_a_whole_rest_session_against_canned_routes(respx_mock: respx.MockRouter) -> None:
    api = mock_streaming_api(respx_mock)
    async with StreamingClient("https://api.heygen.com", "any-key") as client:
        assert [a.avatar_id for a in await client.avatars()] == ["default"]
        sid = (await client.new_session(quality="high")).session_id
        await client.start(sid)
        task = await client.task(sid, "Hello there, how are you today?")
        assert task.duration_ms == pytest.approx(6 * 400)
        for call in (client.keep_alive, client.interrupt, client.start_listening, client.stop_listening):
            await call(sid)
        await client.ice(sid, {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
        assert [s.status for s in (await client.list_sessions()).sessions] == ["connected"]
        await client.stop(sid)
        assert (await client.list_sessions()).sessions == []
        page = await client.history(page=1, page_size=10)
        assert page.total == 1 and page.data[0].status == "closed"
        with pytest.raises(errors.SessionStateError):
            await client.keep_alive(sid)
        with pytest.raises(errors.SessionNotFound):
            await client.keep_alive("nope")
    assert api.sessions[sid]["request"] == {"quality": "high"}
    assert all(api.routes[op].called for op in ENDPOINTS if op != "streaming.create_token")


async def test_injected_failures_and_auth(respx_mock: respx.MockRouter) -> None:
    api = mock_streaming_api(respx_mock, base_url="https://staging.example.com")
    async with StreamingClient("https://staging.example.com") as anonymous:
        with pytest.raises(errors.Unauthorized):
            await anonymous.new_session()
    async with StreamingClient("https://staging.example.com", "k") as client:
        api.fail("streaming.new", 10007)
        with pytest.raises(errors.ConcurrentLimitReached):
            await client.new_session()
        api.clear_failures()
        token = (await client.create_token()).token
    async with StreamingClient("https://staging.example.com", token=token) as browser:
        await browser.new_session()
        with pytest.raises(errors.Unauthorized, match="already used"):
            await browser.new_session()
    with pytest.raises(ValueError):
        api.fail("streaming.nope", 10007)


def test_plain_httpx_code_sees_the_contract_envelopes(respx_mock: respx.MockRouter) -> None:
    mock_streaming_api(respx_mock)
    response = httpx.post(
        "https://api.heygen.com/v1/streaming.new", headers={"X-Api-Key": "k"}, json={"quality": "low"}
    )
    body = response.json()
    assert (response.status_code, body["code"], body["error"]) == (200, 100, None)
    assert {"session_id", "access_token", "url", "ice_servers"} <= set(body["data"])
    bad = httpx.post("https://api.heygen.com/v1/streaming.task", headers={"X-Api-Key": "k"}, content=b"{")
    assert (bad.status_code, bad.json()["code"]) == (400, 400175)
