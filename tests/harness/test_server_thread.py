"""ServerThread: an aiohttp app on its own thread and loop, reachable from sync code; MockAdmin on top."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from harness.admin import MockAdmin
from harness.pytest_plugin import HeygenTarget
from harness.server_thread import ServerThread


def hello_app() -> web.Application:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"loop": id(asyncio.get_running_loop())})

    app.router.add_get("/", hello)
    return app


def test_serves_on_a_free_port_from_its_own_loop() -> None:
    with ServerThread(hello_app) as server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        server_loop = httpx.get(server.url).json()["loop"]
        assert server.call(asyncio.sleep(0, result=7)) == 7
    assert server_loop != 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url, timeout=1)


async def test_reachable_from_an_async_test_on_another_loop() -> None:
    with ServerThread(hello_app) as server:
        async with httpx.AsyncClient() as http:
            served_by = (await http.get(server.url)).json()["loop"]
    assert served_by != id(asyncio.get_running_loop())


def test_a_failing_factory_is_reported() -> None:
    def broken() -> web.Application:
        raise ValueError("bad settings")

    with pytest.raises(RuntimeError, match="bad settings"):
        ServerThread(broken).start()


def test_admin_helpers(heygen_mock: HeygenTarget) -> None:
    admin: MockAdmin = heygen_mock.admin
    admin.delay("streaming.list", 5)
    admin.fail("streaming.list", 10006, rate=0.5)
    fault = admin._call("GET", "faults")["endpoints"]["streaming.list"]
    assert fault["latency"]["ms"] == 5 and fault["error_rate"] == 0.5 and fault["error_code"] == 10006
    admin.clear_faults()
    assert admin._call("GET", "faults")["endpoints"] == {}
    admin.set_concurrency_limit(7)
    admin.set_concurrency_limit(2, api_key="key-one-0123456789")
    admin.set_concurrency_limit(4, api_key="key-two-0123456780")
    settings = admin.settings()
    assert settings["concurrency_limit"] == 7 and sorted(settings["concurrency_limits"].values()) == [2, 4]
    assert admin.usage() == {} and admin.sessions() == []
    assert "MockAdmin" in repr(admin)
