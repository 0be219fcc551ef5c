"""HeyGen's official browser SDK (``@heygen/streaming-avatar`` 2.1.0, unmodified) in headless Chromium against the mock.

The SDK joins the v2 room with ``livekit-client`` 2.11.3, opens ``wss://<hostname>/v1/ws/streaming.chat`` (port
dropped, so the mock serves TLS and Chromium maps ``localhost:443`` onto its port), and talks to the avatar
through REST (``repeat``), the chat socket (its default ``talk`` path) or room data (LiveKit voice transport).
The SDK is bundled by ``tests/e2e/heygen_sdk/build.sh`` (npm, cached under ``.cache/heygen-sdk``).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from mockserver.api.common import SERVICE
from mockserver.app import create_app
from mockserver.config import Settings, SpeechSettings
from mockserver.sessions import State
from mockserver.tls import ensure_loopback_certificate, server_context

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SDK_DIR = Path(__file__).with_name("heygen_sdk")
KEY = "e2e-heygen-sdk-key-0000"
TIER = Settings().tiers["low"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed (needed to fetch the SDK)"),
    pytest.mark.asyncio(loop_scope="module"),
]


@dataclass
class Mock:
    app: web.Application
    port: int
    ca: Path
    page_url: str

    async def token(self) -> str:
        """What an app's backend does for the SDK: ``streaming.create_token`` with the API key."""
        context = ssl.create_default_context(cafile=str(self.ca))
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"https://127.0.0.1:{self.port}/v1/streaming.create_token", headers={"X-Api-Key": KEY}, ssl=context
            )
            return str((await response.json())["data"]["token"])


@pytest.fixture(scope="module")
def sdk_bundle() -> Path:
    result = subprocess.run(
        ["bash", str(SDK_DIR / "build.sh")], capture_output=True, text=True, timeout=300, check=False
    )
    if result.returncode != 0:  # in practice: the npm registry could not be reached or lacks the package
        pytest.skip(f"could not fetch and bundle @heygen/streaming-avatar from npm: {result.stderr[-1500:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mock(sdk_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mock]:
    tls = ensure_loopback_certificate(tmp_path_factory.mktemp("tls"))
    assert tls.ca is not None
    app = create_app(Settings(speech=SpeechSettings(words_per_minute=900)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(tls)).start()
    page_app = web.Application()

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(SDK_DIR / "page.html")

    async def bundle(_: web.Request) -> web.FileResponse:
        return web.FileResponse(sdk_bundle)

    page_app.router.add_get("/", page)
    page_app.router.add_get("/heygen-sdk.js", bundle)
    page_runner = web.AppRunner(page_app, access_log=None)
    await page_runner.setup()
    await web.TCPSite(page_runner, "127.0.0.1", 0).start()
    try:
        yield Mock(app, runner.addresses[0][1], tls.ca, f"http://127.0.0.1:{page_runner.addresses[0][1]}/")
    finally:
        await page_runner.cleanup()
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(mock: Mock) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        # The SDK drops the port from its base URL: https://localhost (443) is the mock's TLS port.
        f"--host-resolver-rules=MAP localhost:443 127.0.0.1:{mock.port}, MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield instance
        finally:
            await instance.close()


async def _open(browser: Any, mock: Mock) -> tuple[Any, Any, list[str]]:
    # The generated certificate's CA is not in Chromium's store: trust it for this context only.
    context = await browser.new_context(ignore_https_errors=True, viewport={"width": 640, "height": 360})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(mock.page_url)
    return context, page, errors


async def _talk_turns(page: Any) -> list[list[str]]:
    """The avatar's speech as the SDK reported it: per task id, the event types in order."""
    turns: dict[str, list[str]] = {}
    for event in await page.evaluate("window.run.events"):
        detail = event["detail"]
        if isinstance(detail, dict) and "task_id" in detail:
            turns.setdefault(detail["task_id"], []).append(event["type"])
    return list(turns.values())


async def _wait(page: Any, expression: str, timeout: float = 20.0) -> None:
    await page.wait_for_function(expression, timeout=timeout * 1000)


async def test_official_sdk_streams_speaks_and_stops(browser: Any, mock: Mock) -> None:
    context, page, errors = await _open(browser, mock)
    try:
        session_id = await page.evaluate(
            "([base, token]) => startAvatar(base, token)", ["https://localhost", await mock.token()]
        )
        await _wait(page, "window.run.ready")
        await _wait(page, "document.getElementById('avatar').currentTime > 0.5")
        size = await page.evaluate(
            "[document.getElementById('avatar').videoWidth, document.getElementById('avatar').videoHeight]"
        )
        assert size == [TIER.width, TIER.height]
        session = mock.app[SERVICE].registry.find(session_id)
        assert session is not None and session.state is State.CONNECTED

        # REST (repeat, sync): the events arrive as room data packets.
        await page.evaluate("speak('Hello from the official SDK.', 'repeat', 'sync')")
        await _wait(page, "types().filter(t => t === 'avatar_stop_talking').length >= 1")
        assert (await _talk_turns(page))[0] == [
            "avatar_start_talking",
            "avatar_talking_message",
            "avatar_end_message",
            "avatar_stop_talking",
        ]
        # The SDK's default talk path: a protobuf text frame on the chat socket; the avatar answers.
        await page.evaluate("speak('What can you do?')")
        await _wait(page, "types().filter(t => t === 'avatar_stop_talking').length >= 2")
        assert (await _talk_turns(page))[1][0] == "avatar_start_talking"

        await page.evaluate("stopAvatar()")
        await _wait(page, "window.run.disconnected")
        assert session.state is State.CLOSED
        assert errors == []
    finally:
        await context.close()


async def test_official_sdk_talks_over_room_data(browser: Any, mock: Mock) -> None:
    """With ``voiceChatTransport: 'livekit'`` the SDK publishes what the user says as room data."""
    context, page, errors = await _open(browser, mock)
    try:
        await page.evaluate(
            "([base, token]) => startAvatar(base, token, 'livekit')", ["https://localhost", await mock.token()]
        )
        await _wait(page, "window.run.ready")
        await page.evaluate("speak('Tell me about the weather.')")
        await _wait(page, "types().includes('avatar_stop_talking')")
        assert (await _talk_turns(page))[0][0] == "avatar_start_talking"
        await page.evaluate("stopAvatar()")
        await _wait(page, "window.run.disconnected")
        assert errors == []
    finally:
        await context.close()
    assert mock.app[SERVICE].stats()["peer_connections"] == 0
