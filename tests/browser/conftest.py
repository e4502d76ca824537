"""Browser tests (issue 16): the console in Debian's chromium, through nginx, against every service role as a real
process on the small demo city. One stack and one browser for the module; each test has its own page (its own
sessionStorage, so its own sign-in) and its own cases."""

from __future__ import annotations

import os
import uuid

import pytest
from playwright.async_api import async_playwright

from shared.messaging.topics import ALL_TOPICS, ensure_topics
from tests.browser.console import CHROMIUM, build_console, web_origin
from tests.e2e.stack import running_stack
from tests.scenarios.story import City
from tests.support import KAFKA_BOOTSTRAP, ROOT, delete_topics


@pytest.fixture(scope="module")
async def console(tmp_path_factory):
    """(city, web origin): the running platform with the small city loaded, and nginx serving the built console."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run deploy/local/setup.sh browser (chromium and fonts-noto-cjk)")
    build_console()
    prefix = f"b{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    try:
        async with running_stack(tmp_path_factory.mktemp("browser"), prefix) as stack:
            stack.run("routing", "load-city", str(ROOT / "deploy/demo/small-city.geojson"),
                      str(ROOT / "deploy/demo/small-city-people.json"))
            with web_origin(stack) as origin:
                async with City.on(stack) as city:
                    yield city, origin
    finally:
        await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])


@pytest.fixture(scope="module")
async def browser():
    async with async_playwright() as playwright:
        # Debian's chromium, never a browser Playwright downloads; --no-sandbox: the suite runs as root.
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser, console):
    _, origin = console
    context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                        timezone_id="Asia/Shanghai", base_url=origin.url)
    page = await context.new_page()
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url)
            if not request.url.startswith((origin.url, "data:", "blob:")) else None)
    page.outside_requests = outside  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        await context.close()
