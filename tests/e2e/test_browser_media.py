"""Headless Chromium receives the mock's media like a real app would: v1 and seed flows, every tier and codec.

The page (tests/e2e/avatar_page.html) is served from another origin than the mock, so CORS is exercised too.
Checks: codec, resolution, frame rate, bitrate near the tier target, data-channel events, audio energy rising
while talking. Screenshots of the avatar idle and talking go to the test's tmp dir (and to docs/ with
``AVATAR_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from mockserver.app import create_app
from mockserver.config import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE = Path(__file__).with_name("avatar_page.html")
DOCS = Path(__file__).resolve().parents[2] / "docs"
KEY = "e2e-browser-key-000000"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install chromium)"
    ),
    pytest.mark.asyncio(loop_scope="module"),
]


@dataclass
class Servers:
    mock_url: str
    page_url: str


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def servers() -> AsyncIterator[Servers]:
    mock_runner, mock_url = await _serve(create_app(Settings(concurrency_limit=100)))
    page_app = web.Application()

    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    page_app.router.add_get("/", page)
    page_runner, page_url = await _serve(page_app)
    try:
        yield Servers(mock_url, page_url)
    finally:
        await page_runner.cleanup()
        await mock_runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


async def _open_page(browser: Any, servers: Servers) -> tuple[Any, list[str]]:
    page = await browser.new_page(viewport={"width": 640, "height": 360})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(servers.page_url)
    return page, errors


async def _rate(page: Any, seconds: float) -> dict[str, float]:
    first = await page.evaluate("inbound()")
    await asyncio.sleep(seconds)
    last = await page.evaluate("inbound()")
    elapsed = (last["at"] - first["at"]) / 1000
    energy_time = max(last["audioDuration"] - first["audioDuration"], 1e-6)
    return {
        "fps": (last["framesDecoded"] - first["framesDecoded"]) / elapsed,
        "kbps": (last["videoBytes"] - first["videoBytes"]) * 8 / elapsed / 1000,
        "audio_power": (last["audioEnergy"] - first["audioEnergy"]) / energy_time,
        "width": last["width"],
        "height": last["height"],
        "codec": last["codec"],
    }


async def _wait_for(page: Any, expression: str, timeout: float = 15.0) -> None:
    await page.wait_for_function(expression, timeout=timeout * 1000)


CASES = [("v1", q, c) for q in ("low", "medium", "high") for c in ("VP8", "H264")] + [
    ("seed", "low", "VP8"),
    ("seed", "medium", "H264"),
]


@pytest.mark.parametrize(("flow", "quality", "codec"), CASES)
async def test_browser_receives_the_avatar(
    browser: Any, servers: Servers, flow: str, quality: str, codec: str, tmp_path: Path
) -> None:
    tier = Settings().tiers[quality]
    page, errors = await _open_page(browser, servers)
    try:
        await page.evaluate(
            "([base, key, q, c, f]) => connect(base, key, q, c, f)", [servers.mock_url, KEY, quality, codec, flow]
        )
        await _wait_for(page, "document.getElementById('avatar').videoWidth > 0")
        await asyncio.sleep(1.0)
        idle = await _rate(page, 4.0)
        assert idle["codec"] == f"video/{codec}"
        assert (idle["width"], idle["height"]) == (tier.width, tier.height)
        assert idle["fps"] >= tier.fps * 0.8, idle
        assert abs(idle["kbps"] - tier.bitrate_kbps) <= tier.bitrate_kbps * 0.2, idle
        shots = flow == "v1" and quality == "low" and codec == "VP8"
        if shots:
            await page.locator("#avatar").screenshot(path=str(tmp_path / "avatar-idle.png"))

        text = "Hello there! This is a fairly long sentence, so that the avatar keeps talking for several seconds."
        await page.evaluate("([base, key, t]) => speak(base, key, t)", [servers.mock_url, KEY, text])
        await _wait_for(page, "window.avatar.events.some(e => e.type === 'avatar_start_talking')")
        await asyncio.sleep(0.8)
        talking = await _rate(page, 1.5)
        assert talking["audio_power"] > max(idle["audio_power"] * 10, 1e-6), (idle, talking)
        if shots:
            await page.locator("#avatar").screenshot(path=str(tmp_path / "avatar-talking.png"))
            if os.environ.get("AVATAR_UPDATE_DOCS") == "1":
                for name in ("avatar-idle.png", "avatar-talking.png"):
                    shutil.copy(tmp_path / name, DOCS / name)
        await _wait_for(page, "window.avatar.events.some(e => e.type === 'avatar_stop_talking')", timeout=20)
        kinds = [e["type"] for e in await page.evaluate("window.avatar.events")]
        assert kinds[0] == "avatar_start_talking" and "avatar_talking_message" in kinds
        await page.evaluate("([base, key]) => stop(base, key)", [servers.mock_url, KEY])
        assert errors == []
    finally:
        await page.close()
