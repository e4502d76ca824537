"""`make demo` opens onto the console with the city moving (issue 16): the demo script (deploy/demo/demo.py, what
`make demo` runs) drives every service role as a real process with its virtual clock running fast, and the sign-in
link it prints opens the console behind nginx, where, without reloading, grids light up and alerts stream in."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import expect

from shared.messaging.topics import ALL_TOPICS, ensure_topics
from tests.browser.console import CHROMIUM, build_console, screenshot, web_origin
from tests.e2e.stack import Stack, eventually, running_stack
from tests.support import KAFKA_BOOTSTRAP, ROOT, delete_topics

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DEMO_SPEED = "120"  # what `make demo` runs the virtual clock at (CLOCK_SPEED in the Makefile)
SIGN_IN_LINK = re.compile(r"^\s*(http://\S+/#access_token=\S+)$", re.MULTILINE)
WAIT = 60_000  # ms: an emergency's sign limit passes in well under a minute at the demo's speed


def tail(output: Path, chars: int | None = 3000) -> str:
    text = output.read_text(errors="replace")
    return text if chars is None else text[-chars:]


@asynccontextmanager
async def demo_stack(workdir: Path) -> AsyncIterator[Stack]:
    """The platform as `make demo` starts it (the virtual clock at the demo's speed), on its own topics."""
    prefix = f"d{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    try:
        async with running_stack(workdir, prefix, extra_env={"CLOCK_SPEED": DEMO_SPEED}) as stack:
            yield stack
    finally:
        await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])


@asynccontextmanager
async def running_demo(stack: Stack, console_url: str, output: Path) -> AsyncIterator[subprocess.Popen]:
    """deploy/demo/demo.py on the small city, as `make demo` runs it (the console's URL passed in CONSOLE_URL)."""
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "deploy.demo.demo", "--city", "small", "--count", "10", "--interval", "0.3"],
            cwd=ROOT, env={**stack.env(), "CONSOLE_URL": console_url}, stdout=out, stderr=subprocess.STDOUT,
            # A suite started in the background (`.ci/run &`, nohup) inherits SIGINT ignored, and so would the demo:
            # give it the terminal's Ctrl-C back, as a person running `make demo` has it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        yield demo
    except BaseException:
        print(tail(output, 5000))
        raise
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it
            try:
                demo.wait(timeout=15)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()


async def test_make_demo_opens_onto_the_console_with_the_city_moving(browser, tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run deploy/local/setup.sh browser (chromium and fonts-noto-cjk)")
    build_console()
    output = tmp_path / "demo.out"
    async with demo_stack(tmp_path) as stack:
        with web_origin(stack) as origin:
            async with running_demo(stack, origin.url, output) as demo:

                async def printed_link() -> str | None:
                    assert demo.poll() is None, "the demo exited:\n" + tail(output)
                    found = SIGN_IN_LINK.search(tail(output, None))
                    return found.group(1) if found else None

                link = await eventually(printed_link, timeout=90)
                assert link.startswith(origin.url + "/#access_token="), link

                context = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                                    timezone_id="Asia/Shanghai")
                try:
                    page = await context.new_page()
                    await page.goto(link)
                    # The link signs in (the token leaves the address bar) and lands on the map of lights.
                    await expect(page).to_have_url(re.compile(r"/map$"), timeout=WAIT)
                    await expect(page.get_by_test_id("light-map")).to_have_attribute("data-ready", "true",
                                                                                      timeout=WAIT)
                    await expect(page.locator(".stream-status")).to_have_attribute("data-state", "open",
                                                                                   timeout=WAIT)
                    # Moving: a grid lights up and its light alert arrives over the live stream, no reload.
                    await expect(page.locator("ul.lit-grids li").first).to_be_visible(timeout=WAIT)
                    lit_on_map = page.locator('path[data-grid][data-light="yellow"], '
                                              'path[data-grid][data-light="red"]')
                    await expect(lit_on_map.first).to_be_attached(timeout=WAIT)
                    light_alerts = page.locator('li.feed-item[data-event="supervision.light.changed"]')
                    await expect(light_alerts.first).to_be_visible(timeout=WAIT)
                    # …and keeps moving: more alerts arrive while the page stays open.
                    seen = await page.locator("li.feed-item").count()
                    started = time.monotonic()
                    await expect(page.locator("li.feed-item")).not_to_have_count(seen, timeout=WAIT)
                    print(f"alerts on the page: {seen}, then more within {time.monotonic() - started:.1f} s")
                    await screenshot(page, "demo-console")
                finally:
                    await context.close()
            assert demo.returncode is not None and "demo stopped" in tail(output, None), \
                tail(output)
