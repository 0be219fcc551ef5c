"""Open a built report in headless Chromium: every chart renders, no console errors, no network.

Set AVATAR_REPORT_SCREENSHOT=docs/report-screenshot.png to refresh the docs screenshot from this test.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from reports import build_report, compare_runs
from tests.reports.synth import SynthSpec, write_synthetic

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    """One headless Chromium for the module (launching it is the slow part)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _docs_screenshot(browser, page, target: str) -> None:  # type: ignore[no-untyped-def]
    """The docs image: the top of the report stacked over its time-series charts (both real crops)."""
    top = page.screenshot(clip={"x": 0, "y": 0, "width": 1280, "height": 1130}, full_page=True)
    first, last = page.locator("#timeline").bounding_box(), page.locator("#bandwidth").bounding_box()
    y = first["y"] - 12
    charts = page.screenshot(full_page=True, clip={"x": 0, "y": y, "width": 1280,
                                                   "height": last["y"] + last["height"] + 12 - y})
    sheet = browser.new_page(viewport={"width": 1280, "height": 800})
    imgs = "".join(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">' for png in (top, charts))
    sheet.set_content('<body style="margin:0;background:#f6f7f9;display:flex;flex-direction:column;gap:0">'
                      + imgs.replace("><img", '><div style="height:18px;background:repeating-linear-gradient('
                                     '90deg,#e5e7eb 0 12px,#f6f7f9 12px 20px);margin:0 24px"></div><img') + "</body>")
    sheet.screenshot(path=target, full_page=True)
    sheet.close()


def _open(browser, html: Path, screenshot: Path, full_page: bool = False,  # type: ignore[no-untyped-def]
          docs_target: str = "") -> tuple[int, int]:
    """Load `html`, wait for every chart, fail on console errors or requests leaving the file; screenshot."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 1720})
    try:
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: problems.append(f"network request: {r.url}")
                if not r.url.startswith(("file:", "data:", "blob:")) else None)
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-charts-ready]", timeout=60_000)
        expected = page.locator("[data-figure]").count()
        drawn = page.locator("[data-figure][data-rendered]").count()
        with_svg = page.locator("[data-figure][data-rendered] .main-svg").count()
        assert page.get_attribute("body", "data-charts-ready") == str(drawn)
        first = page.locator("details.mrow summary").first
        if first.count():  # "how is this measured?" is one click away
            first.click()
            assert page.locator("details.mrow[open] .method").first.is_visible()
            first.click()
        page.mouse.move(0, 0)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(screenshot), full_page=full_page)
        if docs_target:
            _docs_screenshot(browser, page, docs_target)
    finally:
        page.close()
    assert not problems, problems
    assert with_svg >= drawn
    return expected, drawn


def test_report_renders_in_chromium(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = os.environ.get("AVATAR_REPORT_SCREENSHOT")
    if target:  # the docs screenshot: a bigger, realistic run
        spec = SynthSpec(sessions=60, duration_s=300, network_profiles=[None, "4g", "regular 3G"],
                         error_share=0.004, seed=3)
    else:
        spec = SynthSpec(sessions=14, duration_s=90, network_profiles=[None, "regular 3G"], staircase=True,
                         concurrency_limit=12, error_share=0.02, speech_every_s=4.0)
    run = write_synthetic(tmp_path / "run" / "samples.jsonl", spec)
    html = build_report(run, tmp_path / "run" / "report.html")
    expected, drawn = _open(browser, html, tmp_path / "report.png", docs_target=target or "")
    assert expected >= 8 and drawn == expected
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_empty_and_compare_pages_render(browser, tmp_path: Path,  # type: ignore[no-untyped-def]
                                        empty_run: Path) -> None:
    expected, drawn = _open(browser, build_report(empty_run, tmp_path / "empty.html"), tmp_path / "empty.png")
    assert expected == drawn == 0
    base = write_synthetic(tmp_path / "b.jsonl", SynthSpec(sessions=4, duration_s=20))
    cmp_html = tmp_path / "cmp.html"
    compare_runs(base, base, cmp_html, ["speech.onset.p95 > 1.2*base"])
    expected, drawn = _open(browser, cmp_html, tmp_path / "cmp.png")
    assert expected > 0 and drawn == expected
