"""StreamingClient: parsing, typed errors and samples, without sockets (MockTransport) and against the mock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness import MemorySink, StreamingClient, errors
from harness.pytest_plugin import HeygenTarget

SECRET_KEY = "sk_live_abcdefghijklmnop0123456789"
SECRET_TOKEN = "tok_abcdefghijklmnopqrstuvwxyz0123"


def canned(status: int, body: Any) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    return handler


def offline(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> StreamingClient:
    return StreamingClient("http://svc.invalid", SECRET_KEY, transport=httpx.MockTransport(handler), **kwargs)


NEW_DATA = {
    "session_id": "s1",
    "access_token": "at",
    "url": "wss://x",
    "session_duration_limit": 600,
    "ice_servers": [{"urls": ["stun:127.0.0.1:3478"]}],
}


# --- socket-free ---


async def test_success_is_parsed_with_the_contract_models_and_recorded() -> None:
    sink = MemorySink()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 100, "message": "Success", "data": NEW_DATA})

    async with offline(handler, sink=sink, labels={"scenario": "unit", "network_profile": "lan"}) as client:
        data = await client.new_session(quality="medium", video_encoding="h264", avatar_id="default")
    assert data.session_id == "s1" and data.ice_servers and data.ice_servers[0].urls == ["stun:127.0.0.1:3478"]
    assert seen[0].headers["X-Api-Key"] == SECRET_KEY
    assert json.loads(seen[0].content) == {"quality": "medium", "video_encoding": "h264", "avatar_id": "default"}
    (sample,) = [s for s in sink.samples if s.metric == "rest.streaming.new"]
    assert sample.ok and sample.value is not None and sample.value >= 0
    assert sample.labels == {"scenario": "unit", "network_profile": "lan", "tier": "medium", "codec": "H264"}
    # closing stopped the session the client opened and never stopped
    assert seen[-1].url.path == "/v1/streaming.stop"


async def test_token_auth_uses_bearer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 100, "message": "success", "data": {"sessions": []}})

    async with StreamingClient("http://svc.invalid", token=SECRET_TOKEN, transport=httpx.MockTransport(handler)) as c:
        assert (await c.list_sessions()).sessions == []
    assert seen[0].headers["Authorization"] == f"Bearer {SECRET_TOKEN}"
    assert "X-Api-Key" not in seen[0].headers


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (
            400,
            {"code": 10007, "message": "concurrent limit reached", "data": None},
            errors.ConcurrentLimitReached,
            10007,
        ),
        (401, {"code": 400112, "message": "unauthorized", "data": None}, errors.Unauthorized, 400112),
        (429, {"code": 400140, "message": "rate limit exceeded", "data": None}, errors.RateLimited, 400140),
        (200, {"code": 10006, "message": "session not found", "data": None}, errors.SessionNotFound, 10006),
        (502, b"<html>bad gateway</html>", errors.ServerError, None),
        (500, {"message": "oops"}, errors.ServerError, None),
        (200, b"not json", errors.ServerError, None),
        (200, {"code": 100, "data": {"session_id": "only"}}, errors.ServerError, None),
    ],
    ids=["10007", "401", "429", "code-with-200", "html-502", "no-code-500", "not-json", "contract-drift"],
)
async def test_failures_raise_typed_errors_and_record_error_samples(
    status: int, body: Any, cls: type[errors.StreamingError], code: int | None
) -> None:
    sink = MemorySink()
    async with offline(canned(status, body), sink=sink) as client:
        with pytest.raises(cls) as caught:
            await client.new_session()
    assert caught.value.code == code
    (sample,) = sink.of("rest.streaming.new")
    if cls is errors.ServerError and status == 200:
        return  # a success envelope whose data breaks the contract: the call itself went fine
    assert not sample.ok and sample.error == (str(code) if code else "ServerError")
    assert sample.value is not None


async def test_network_errors_are_transport_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    sink = MemorySink()
    async with offline(refuse, sink=sink) as client:
        with pytest.raises(errors.TransportError, match="connection refused"):
            await client.avatars()
    async with offline(hang, sink=sink, timeout=0.5) as client:
        with pytest.raises(errors.RequestTimeout):
            await client.keep_alive("s1")
    assert [(s.metric, s.ok, s.error, s.value) for s in sink.samples] == [
        ("rest.streaming.avatar.list", False, "TransportError", None),
        ("rest.streaming.keep_alive", False, "RequestTimeout", None),
    ]


async def test_secrets_never_appear_in_errors_or_reprs() -> None:
    echo = {"code": 400112, "message": f"bad key {SECRET_KEY} / token {SECRET_TOKEN}", "data": None}
    for client in (
        offline(canned(401, echo)),
        StreamingClient("http://svc.invalid", token=SECRET_TOKEN, transport=httpx.MockTransport(canned(401, echo))),
    ):
        async with client:
            with pytest.raises(errors.Unauthorized) as caught:
                await client.create_token()
        texts = [str(caught.value), repr(caught.value), caught.value.message, repr(client), str(caught.value.args)]
        for text in texts:
            assert SECRET_KEY not in text and SECRET_TOKEN not in text
        assert "***" in caught.value.message


# --- against the in-process mock ---


async def test_every_endpoint_against_the_mock(heygen_mock: HeygenTarget, streaming_client: StreamingClient) -> None:
    client = streaming_client
    assert any(a.avatar_id == "default" for a in await client.avatars())
    data = await client.new_session(quality="low", video_encoding="VP8")
    sid = data.session_id
    assert data.sdp is not None and data.sdp.type == "offer"  # the mock has media
    assert (await client.list_sessions()).sessions[0].status == "new"
    await client.start(sid)  # no SDP: control plane only
    assert (await client.list_sessions()).sessions[0].status == "connected"
    await client.keep_alive(sid)
    await client.start_listening(sid)
    await client.stop_listening(sid)
    task = await client.task(sid, "Hello there.", task_type="repeat", task_mode="sync")
    assert task.duration_ms > 0 and task.task_id
    await client.task(sid, "A longer sentence to interrupt right away.", task_mode="async")
    await client.interrupt(sid)
    await client.ice(sid, {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0})
    await client.stop(sid)
    assert client.open_sessions == frozenset()
    page = await client.history(page=1, page_size=5)
    assert page.total == 1 and page.data[0].status == "closed"
    kinds = [e["type"] for e in heygen_mock.admin.events(sid)]
    assert kinds[:2] == ["avatar_start_listening", "avatar_stop_listening"]
    assert "avatar_start_talking" in kinds and "avatar_stop_talking" in kinds


async def test_token_flow_against_the_mock(heygen_mock: HeygenTarget, streaming_client: StreamingClient) -> None:
    token = (await streaming_client.create_token()).token
    async with StreamingClient(heygen_mock.url, token=token) as browser:
        sid = (await browser.new_session()).session_id
        await browser.start(sid)
        with pytest.raises(errors.Unauthorized):
            await browser.new_session()  # single-use: one token, one session
        await browser.stop(sid)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (40001, errors.MissingParameter),
        (400175, errors.InvalidParameter),
        (10001, errors.SessionStateError),
        (10002, errors.SessionStateError),
        (10003, errors.SessionStateError),
        (10004, errors.SessionStateError),
        (10005, errors.SessionStateError),
        (10006, errors.SessionNotFound),
        (10007, errors.ConcurrentLimitReached),
        (10012, errors.AvatarNotFound),
        (10013, errors.AvatarNotAllowed),
        (400140, errors.RateLimited),
        (400112, errors.Unauthorized),
        (500, errors.ServerError),
    ],
)
async def test_injected_faults_become_typed_errors(
    heygen_mock: HeygenTarget, streaming_client: StreamingClient, code: int, cls: type[errors.StreamingError]
) -> None:
    heygen_mock.admin.set_faults({"streaming.new": {"error_rate": 1, "error_code": code}})
    with pytest.raises(cls) as caught:
        await streaming_client.new_session()
    assert caught.value.code == code


async def test_real_error_paths_of_the_mock(heygen_mock: HeygenTarget, streaming_client: StreamingClient) -> None:
    client = streaming_client
    with pytest.raises(errors.InvalidParameter, match="quality"):
        await client.new_session(quality="ultra")
    with pytest.raises(errors.AvatarNotFound):
        await client.new_session(avatar_id="nobody")
    with pytest.raises(errors.AvatarNotAllowed):
        await client.new_session(avatar_id="Tyler-incasualsuit-20220721")
    with pytest.raises(errors.SessionNotFound):
        await client.keep_alive("f" * 32)
    sid = (await client.new_session()).session_id
    with pytest.raises(errors.SessionStateError) as early:
        await client.task(sid, "too early")
    assert early.value.state == "new"
    with pytest.raises(errors.MissingParameter, match="text"):
        await client._call("streaming.task", "POST", "/v1/streaming.task", {"session_id": sid})
    heygen_mock.admin.set_concurrency_limit(1, api_key=heygen_mock.api_key)
    with pytest.raises(errors.ConcurrentLimitReached):
        await client.new_session()
    heygen_mock.admin.kill(sid)
    with pytest.raises(errors.SessionStateError) as closed:
        await client.keep_alive(sid)
    assert closed.value.state == "closed"
    async with StreamingClient(heygen_mock.url) as anonymous:
        with pytest.raises(errors.Unauthorized):
            await anonymous.list_sessions()
    heygen_mock.admin.update_settings(rate_limit_per_s=1)
    with pytest.raises(errors.RateLimited):
        for _ in range(5):
            await client.list_sessions()


async def test_closing_the_client_stops_what_it_left_open(heygen_mock: HeygenTarget) -> None:
    async with heygen_mock.client() as client:
        sids = [(await client.new_session()).session_id for _ in range(2)]
        assert client.open_sessions == frozenset(sids)
    states = {s["session_id"]: (s["status"], s["close_reason"]) for s in heygen_mock.admin.sessions()}
    assert all(states[sid] == ("closed", "stopped") for sid in sids)
    assert heygen_mock.admin.stats()["sessions_live"] == 0
