"""The grid-worker app in a real browser (issue 16, item 4): a phone (a mobile Chromium context with a GPS fix)
signs in as a grid worker of the small demo city, goes offline, finishes a case assigned to it (签收, then 办结 with
a photo) and reports a new incident with a photo; the queue shows what waits; back online, every write lands once
(the first answer of each is even lost on the way back, so each is sent twice: intake takes it once by its
Idempotency-Key). With the app shell cached, a reload offline still opens the app. A write intake refuses (4xx)
is shown failed and never sent again, with the photos that depended on it; a 5xx is retried. Screenshots go to
.run/artifacts/screenshots/worker-*.png, axe finds no serious or critical violation, no request leaves the origin.
Everything waits on what the page or the services show, never on a guessed sleep."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from functools import cache
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.async_api import BrowserContext, Page, Route, expect
from shapely.geometry import shape
from shapely.ops import polylabel

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET
from tests.browser.console import screenshot, serious_accessibility_violations
from tests.e2e.stack import eventually
from tests.scenarios.story import City
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SMALL_CITY = ROOT / "deploy/demo/small-city.geojson"
WAIT = 30_000  # ms
PHONE = {"width": 390, "height": 844}


@cache
def inside(grid: str) -> dict[str, float]:
    """The point of the grid farthest from its edges (a phone standing there is plainly in the grid)."""
    [feature] = [f for f in json.loads(SMALL_CITY.read_text())["features"] if f["properties"]["code"] == grid]
    polygon = shape(feature["geometry"])
    polygon = max(polygon.geoms, key=lambda p: p.area) if polygon.geom_type == "MultiPolygon" else polygon
    point = polylabel(polygon, tolerance=1e-6)
    return {"lon": point.x, "lat": point.y}


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(out, "JPEG", quality=85)
    return out.getvalue()


def photo(name: str, colour: tuple[int, int, int]) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg(colour)}


async def phone_for(browser, origin_url: str, grid: str) -> tuple[BrowserContext, Page, list[str]]:
    here = inside(grid)
    context = await browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN",
        timezone_id="Asia/Shanghai", base_url=origin_url, service_workers="allow",
        geolocation={"longitude": here["lon"], "latitude": here["lat"], "accuracy": 8}, permissions=["geolocation"])
    outside: list[str] = []
    # The context's requests include the service worker's (it caches the app shell).
    context.on("request", lambda request: outside.append(request.url)
               if not request.url.startswith((origin_url, "data:", "blob:")) else None)
    page = await context.new_page()
    # What the page said, printed (pytest shows it when a test fails).
    page.on("console", lambda message: print(f"console.{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    return context, page, outside


@pytest.fixture
async def phone(browser, console):
    """(context, page, requests that left the origin) of a phone standing in 梅花社区第3网格."""
    _, origin = console
    context, page, outside = await phone_for(browser, origin.url, GRID)
    try:
        yield context, page, outside
    finally:
        await context.close()


GRID = "320508019044003"  # 梅花社区第3网格: 李娜 (gw-320508019044003) of unit grid-320508019044003
WORKER = f"gw-{GRID}"


async def no_serious_violations(page: Page, name: str) -> None:
    found = await serious_accessibility_violations(page, name)
    assert found == [], "axe: " + "\n".join(found)


async def sign_in_with_the_picker(page: Page, grid: str) -> None:
    await page.goto("/worker/")
    await expect(page).to_have_url(re.compile(r"/worker/signin"))
    await expect(page.locator("#dev-grid")).to_have_attribute("data-ready", "true", timeout=WAIT)
    await page.get_by_label("网格", exact=True).select_option(grid)
    await expect(page.get_by_label("用户名", exact=True)).to_have_value(f"gw-{grid}")
    await expect(page.get_by_label("所属单位", exact=True)).to_have_value(f"grid-{grid}")
    await screenshot(page, "worker-signin")
    await no_serious_violations(page, "worker-signin")
    await page.get_by_role("button", name="登录", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/worker/$"))


def outbox(page: Page):
    return page.get_by_test_id("outbox-counts")


async def intake_get(city: City, path: str, **params: Any) -> Any:
    return await city.get("intake", path, **params)


async def cases_titled(city: City, grid: str, title: str) -> list[dict[str, Any]]:
    page = await intake_get(city, "/v1/incidents", grid_prefix=grid, limit=500)
    return [item for item in page["items"] if item["title"] == title]


async def assigned_case(city: City, grid: str, title: str) -> str:
    incident = await city.report(location=inside(grid), title=title)
    await city.case_when(incident, status="assigned", owner__unit_id=f"grid-{grid}")
    await city.clock_when(incident, phase="sign")
    return incident


async def test_offline_a_grid_worker_finishes_a_case_and_reports_with_photos_and_each_write_lands_once(console, phone):
    city, origin = console
    context, page, outside = phone
    incident = await assigned_case(city, GRID, "浏览器测试：楼道堆放杂物")
    reported_title = "浏览器测试：小区门口垃圾堆积（离线上报）"

    # ---- online: sign in, my cases with their lights and time left, the case opened once (kept on the phone)
    await sign_in_with_the_picker(page, GRID)
    mine = page.locator(f'[data-testid="my-cases"] li[data-incident="{incident}"]')
    await expect(mine).to_be_visible(timeout=WAIT)
    await expect(mine).to_contain_text("待签收")
    await expect(mine).to_contain_text("绿灯")  # the light, in words beside its shape
    await expect(mine.get_by_test_id("time-left")).to_contain_text(re.compile(r"签收剩余 \d+小时"))
    await expect(page.get_by_test_id("who")).to_contain_text(WORKER)
    # The service worker is active with the app shell cached: the app can now open without a network.
    await expect(page.locator("html")).to_have_attribute("data-offline-ready", "true", timeout=WAIT)
    await screenshot(page, "worker-cases")
    await no_serious_violations(page, "worker-cases")
    await mine.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(f"/worker/cases/{incident}$"))
    status = page.get_by_test_id("case-status")
    await expect(status).to_have_attribute("data-status", "assigned")
    await expect(page.get_by_test_id("timeline").locator('li[data-action="assigned"]')).to_have_count(1)

    # Each write's first answer is lost on its way back to the phone: intake has taken it, the phone does not
    # know, and sends it again with the same Idempotency-Key.
    answered: Counter[str] = Counter()

    async def lose_the_first_answer(route: Route) -> None:
        request = route.request
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or not key:
            await route.continue_()
            return
        answered[key] += 1
        if answered[key] == 1:
            response = await route.fetch()  # intake takes it …
            assert response.status < 300, await response.text()
            await route.abort("connectionreset")  # … and the answer never arrives
        else:
            await route.continue_()

    await context.route(re.compile(r".*/api/intake/v1/incidents.*"), lose_the_first_answer)

    # ---- offline: 签收, then 办结 with a photo
    await context.set_offline(True)
    await expect(page.get_by_test_id("net-status")).to_have_text("离线")
    await page.get_by_role("button", name="签收", exact=True).click()
    await expect(status).to_have_attribute("data-status", "in_progress")
    await page.get_by_role("button", name="办结", exact=True).click()
    await page.get_by_label("办结情况").fill("已联系物业清理楼道杂物，通道恢复畅通。")
    await page.get_by_label("处置照片（可选）").set_input_files([photo("处置后.jpg", (40, 140, 60))])
    await expect(page.locator('ul[aria-label="已选处置照片"] img')).to_have_count(1)
    await page.get_by_role("button", name="提交办结", exact=True).click()
    await expect(status).to_have_attribute("data-status", "pending_verification")
    await expect(page.get_by_test_id("case-queue").locator("li")).to_have_count(3)  # 签收, the photo, 办结
    await expect(outbox(page)).to_have_attribute("data-pending", "3")
    await screenshot(page, "worker-case-offline")
    await no_serious_violations(page, "worker-case-offline")

    # ---- offline: a report where the phone stands (the pin moved a little on the map), with a photo
    await page.get_by_role("link", name=re.compile("^上报事件")).click()
    await expect(page.get_by_test_id("fix-status")).to_have_attribute("data-state", "fixed", timeout=WAIT)
    report = page.locator("form.w-report")
    await expect(report).to_have_attribute("data-located", "inside")
    await expect(page.get_by_label("所属网格")).to_have_value(GRID)
    lon_before = await page.get_by_label("经度").input_value()
    pin = page.get_by_test_id("report-pin")
    box = await pin.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] - 4)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] / 2 + 12, box["y"] + box["height"] + 2, steps=6)
    await page.mouse.up()
    await expect(page.get_by_label("经度")).not_to_have_value(lon_before)
    await expect(report).to_have_attribute("data-located", "inside")
    moved = {"lon": float(await page.get_by_label("经度").input_value()),
             "lat": float(await page.get_by_label("纬度").input_value())}
    await page.get_by_label("事件类别").select_option("city.garbage")
    await page.get_by_label("标题").fill(reported_title)
    await page.get_by_label("详细描述").fill("垃圾桶满溢，散落到人行道。")
    await page.get_by_label("现场照片（可选）").set_input_files([photo("现场.jpg", (150, 90, 30))])
    await screenshot(page, "worker-report")
    await no_serious_violations(page, "worker-report")
    await page.get_by_role("button", name="提交上报", exact=True).click()
    await expect(page.locator(".w-flash")).to_contain_text("联网后自动发送")
    await expect(outbox(page)).to_have_attribute("data-pending", "5")

    # ---- the queue, shown; then reloaded offline: the app opens from its cached shell, the queue still there
    await outbox(page).click()
    queue = page.get_by_test_id("queue-list")
    await expect(queue.locator('li[data-status="pending"]')).to_have_count(5)
    await expect(page.get_by_test_id("queue-summary")).to_contain_text("待发送 5 项")
    await screenshot(page, "worker-queue-offline")
    await no_serious_violations(page, "worker-queue-offline")
    reloaded = await page.reload()
    assert reloaded is not None and reloaded.from_service_worker, "the offline reload did not come from the cache"
    await expect(page.get_by_role("heading", name="待发送")).to_be_visible()
    await expect(queue.locator('li[data-status="pending"]')).to_have_count(5)
    await expect(page.get_by_test_id("net-status")).to_have_text("离线")
    assert answered == Counter(), f"something was sent while offline: {answered}"

    # ---- back online: sent in order, each answer lost once and resent; all five through
    await context.set_offline(False)
    await expect(outbox(page)).to_have_attribute("data-pending", "0", timeout=WAIT)
    await expect(outbox(page)).to_have_attribute("data-sent", "5")
    await expect(outbox(page)).to_have_attribute("data-failed", "0")
    assert sorted(answered.values()) == [2] * 5, f"each write is sent twice (the first answer lost): {answered}"
    await expect(queue.locator('li[data-status="sent"]')).to_have_count(5)
    await screenshot(page, "worker-queue-synced")
    await no_serious_violations(page, "worker-queue-synced")

    # ---- each landed exactly once
    finished = await city.case_when(incident, status="pending_verification")
    actions = Counter(entry["action"] for entry in finished["timeline"])
    assert (actions["sign"], actions["submit_result"], actions["attach"]) == (1, 1, 1), actions
    [result] = [e for e in finished["timeline"] if e["action"] == "submit_result"]
    assert result["actor"] == WORKER and result["detail"]["result"].startswith("已联系物业")
    attachments = await intake_get(city, f"/v1/incidents/{incident}/attachments")
    assert [a["filename"] for a in attachments] == ["处置后.jpg"] and attachments[0]["status"] == "stored"
    assert result["detail"]["attachments"] == [attachments[0]["id"]]  # the 办结 names its photo

    [created] = await eventually(lambda: cases_titled(city, GRID, reported_title))
    assert len(await cases_titled(city, GRID, reported_title)) == 1
    case = await city.case(created["id"])
    assert (case["source"], case["category"], case["grid_code"]) == ("gridworker", "city.garbage", GRID)
    assert case["location"] == pytest.approx(moved, abs=1e-6)  # where the pin was dragged to
    new_photos = await intake_get(city, f"/v1/incidents/{created['id']}/attachments")
    assert [(a["filename"], a["status"]) for a in new_photos] == [("现场.jpg", "stored")]

    # ---- the case, as the phone shows it now
    await page.goto(f"/worker/cases/{incident}")
    await expect(status).to_have_attribute("data-status", "pending_verification")
    await expect(page.get_by_test_id("timeline").locator('li[data-action="submit_result"]')).to_have_count(1)
    await expect(page.locator('ul[aria-label="案件照片"] img')).to_have_count(1)
    await screenshot(page, "worker-case-synced")
    await no_serious_violations(page, "worker-case-synced")
    assert outside == [], f"requests left the origin: {outside}"


async def test_the_app_opens_offline_from_its_cached_shell_and_is_installable(console, browser):
    city, origin = console
    grid = "320508019044004"  # 梅花社区第4网格
    incident = await assigned_case(city, grid, "浏览器测试：路灯不亮")
    context, page, outside = await phone_for(browser, origin.url, grid)
    try:
        # Signed in as the city's sign-on hands a token over: in the URL fragment, taken and removed.
        jwt = issue_token(DEV_JWT_SECRET, f"gw-{grid}", "gridworker", [grid], f"grid-{grid}")
        await page.goto(f"/worker/#access_token={jwt}")
        await expect(page).to_have_url(re.compile(r"/worker/$"))
        assert "access_token" not in page.url
        await expect(page.locator(f'[data-testid="my-cases"] li[data-incident="{incident}"]')).to_be_visible(
            timeout=WAIT)
        await expect(page.locator("html")).to_have_attribute("data-offline-ready", "true", timeout=WAIT)
        await expect(page.locator("main")).to_have_attribute("data-kept", "true", timeout=WAIT)  # cases kept

        await context.set_offline(True)
        reloaded = await page.reload()
        assert reloaded is not None and reloaded.from_service_worker
        await expect(page.get_by_role("heading", name="我的案件")).to_be_visible()
        await expect(page.get_by_test_id("net-status")).to_have_text("离线")
        # My cases, as last read, said to be so.
        await expect(page.locator(f'[data-testid="my-cases"] li[data-incident="{incident}"]')).to_be_visible()
        await expect(page.locator("main")).to_contain_text("本机保存于")
        await screenshot(page, "worker-offline-reload")
        await no_serious_violations(page, "worker-offline-reload")
        # Any page of the app opens offline (the shell answers every path), the case too (kept when listed).
        opened = await page.goto(f"/worker/cases/{incident}")
        assert opened is not None and opened.from_service_worker
        await expect(page.get_by_role("heading", name="浏览器测试：路灯不亮")).to_be_visible()
        await expect(page.get_by_role("button", name="签收", exact=True)).to_be_visible()
        await context.set_offline(False)
    finally:
        await context.close()
    assert outside == [], f"requests left the origin: {outside}"

    # Installable: the manifest (zh-CN, 网格员, icons) with its type; the service worker's script never cached.
    async with httpx.AsyncClient(base_url=origin.url, timeout=10) as http:
        manifest = await http.get("/worker/manifest.webmanifest")
        assert manifest.status_code == 200
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = manifest.json()
        assert (body["name"], body["lang"], body["start_url"], body["display"]) == ("网格员", "zh-CN", "/worker/",
                                                                                    "standalone")
        sizes = {icon["sizes"] for icon in body["icons"] if icon["type"] == "image/png"}
        assert {"192x192", "512x512"} <= sizes
        for icon in body["icons"]:
            fetched = await http.get(icon["src"])
            assert fetched.status_code == 200 and fetched.headers["content-type"] == icon["type"], icon
        sw = await http.get("/worker/sw.js")
        assert sw.status_code == 200 and sw.headers["cache-control"] == "no-cache"
        assert "javascript" in sw.headers["content-type"]
        bare = await http.get("/worker")
        assert bare.status_code == 301 and bare.headers["location"] == "/worker/"
        deep = await http.get("/worker/cases/anything")
        assert deep.status_code == 200 and "/worker/manifest.webmanifest" in deep.text


async def test_a_refused_write_fails_with_what_depends_on_it_and_is_not_resent_while_a_5xx_is_retried(
        console, browser):
    city, origin = console
    grid = "320508019044002"  # 梅花社区第2网格
    refused_title = "浏览器测试：被拒绝的上报"
    retried_title = "浏览器测试：重试后送达的上报"
    context, page, outside = await phone_for(browser, origin.url, grid)
    attempts: Counter[str] = Counter()

    async def intake_refuses_one_and_stumbles_on_another(route: Route) -> None:
        request = route.request
        if request.method != "POST":
            await route.continue_()
            return
        if request.url.endswith("/v1/incidents"):
            title = json.loads(request.post_data or "{}").get("title")
            attempts[title] += 1
            if title == refused_title:  # a 4xx: shown failed, never sent again
                await route.fulfill(status=422, content_type="application/problem+json", body=json.dumps({
                    "type": "about:blank", "title": "Unprocessable Content", "status": 422,
                    "detail": "category is not one of intake's"}))
                return
            if title == retried_title and attempts[title] == 1:  # a 5xx: sent again
                await route.fulfill(status=503, content_type="application/problem+json", body=json.dumps({
                    "type": "about:blank", "title": "Service Unavailable", "status": 503}))
                return
        else:
            attempts["upload"] += 1
        await route.continue_()

    try:
        await context.route(re.compile(r".*/api/intake/v1/incidents.*"), intake_refuses_one_and_stumbles_on_another)
        jwt = issue_token(DEV_JWT_SECRET, f"gw-{grid}", "gridworker", [grid], f"grid-{grid}")
        await page.goto(f"/worker/report#access_token={jwt}")
        await expect(page.get_by_test_id("fix-status")).to_have_attribute("data-state", "fixed", timeout=WAIT)
        await expect(page.locator("form.w-report")).to_have_attribute("data-located", "inside", timeout=WAIT)
        # Offline, so both reports wait in the queue, each with its photo, in this order.
        await context.set_offline(True)
        await expect(page.get_by_test_id("net-status")).to_have_text("离线")
        for title, colour in ((refused_title, (200, 40, 40)), (retried_title, (40, 40, 200))):
            await page.get_by_label("事件类别").select_option("city.garbage")
            await page.get_by_label("标题").fill(title)
            await page.get_by_label("现场照片（可选）").set_input_files([photo(f"{title}.jpg", colour)])
            await page.get_by_role("button", name="提交上报", exact=True).click()
            await expect(page.locator(".w-flash")).to_contain_text(title)
        await expect(outbox(page)).to_have_attribute("data-pending", "4")
        await outbox(page).click()

        await context.set_offline(False)
        await expect(outbox(page)).to_have_attribute("data-pending", "0", timeout=WAIT)
        await expect(outbox(page)).to_have_attribute("data-failed", "2")
        await expect(outbox(page)).to_have_attribute("data-sent", "2")
        queue = page.get_by_test_id("queue-list")
        failed = queue.locator('li[data-status="failed"]')
        await expect(failed).to_have_count(2)
        await expect(failed.nth(0)).to_contain_text("category is not one of intake's")
        await expect(failed.nth(1)).to_contain_text("未能送达")  # its photo: its case never came to be
        await expect(failed.nth(0).get_by_role("button", name="重新发送")).to_be_visible()
        await screenshot(page, "worker-queue-failed")
        await no_serious_violations(page, "worker-queue-failed")

        # Another pass (the network comes back again): the refused one is not sent again by itself.
        await context.set_offline(True)
        await context.set_offline(False)
        await page.get_by_role("button", name="立即发送").click()
        await expect(outbox(page)).to_have_attribute("data-state", "idle", timeout=WAIT)
        assert attempts == Counter({refused_title: 1, retried_title: 2, "upload": 1}), attempts
    finally:
        await context.close()
    assert await cases_titled(city, grid, refused_title) == []
    [landed] = await cases_titled(city, grid, retried_title)
    uploaded = await intake_get(city, f"/v1/incidents/{landed['id']}/attachments")
    assert [a["filename"] for a in uploaded] == [f"{retried_title}.jpg"]
    assert outside == [], f"requests left the origin: {outside}"
