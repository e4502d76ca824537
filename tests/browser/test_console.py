"""The supervisor console in a real browser (issue 16, item 3): the boards filtered by 督办 level; the centre's queues
and an extension approved from the case page; a 改派 from the case page that reaches the new unit (routing's record
and intake's owner, polled); the 红黑榜 exported and opened as a valid XLSX; a supervisor of one community never
sees another's cases on the boards, the queues or a case page (not found). Each page is screenshotted to
.run/artifacts/screenshots/ and axe finds no serious or critical violation on it; no request leaves the origin."""

from __future__ import annotations

import io
import json
import re
from functools import cache
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest
from PIL import Image
from playwright.async_api import Page, expect
from shapely.geometry import shape

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET
from tests.browser.console import screenshot, serious_accessibility_violations
from tests.e2e.stack import eventually
from tests.scenarios.story import ADMIN, CENTRE, City, token
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SMALL_CITY = ROOT / "deploy/demo/small-city.geojson"
WAIT = 30_000  # ms: what crosses the bus (an owner reaching intake) takes a second or two
MEIHUA, TAOWU = "320508019044", "320508019045"  # two communities of the small city: two areas
# Each test reports in grids (or categories) of its own: a report of the same category within 50 m of an open case
# is its duplicate, which follows its master and is never routed or clocked.


@cache
def point_in(grid: str) -> dict[str, float]:
    [feature] = [f for f in json.loads(SMALL_CITY.read_text())["features"] if f["properties"]["code"] == grid]
    point = shape(feature["geometry"]).representative_point()
    return {"lon": point.x, "lat": point.y}


async def sign_in(page: Page, sub: str, area: list[str], to: str, role: str = "supervisor") -> None:
    """As the city's sign-on hands a token over (in the fragment), landing on `to`."""
    jwt = issue_token(DEV_JWT_SECRET, sub, role, area)
    await page.goto(f"/?next={quote(to)}#access_token={jwt}")
    await expect(page).to_have_url(re.compile(re.escape(to.split("?")[0]) + r"(\?.*)?$"))


async def no_serious_violations(page: Page, name: str) -> None:
    found = await serious_accessibility_violations(page, name)
    assert found == [], "axe: " + "\n".join(found)


async def assigned(city: City, incident: str) -> dict[str, Any]:
    """The case once routing has given it an owner and intake has heard."""
    return await city.case_when(incident, status="assigned")


async def photo_of(city: City, incident: str) -> str:
    image = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(image, "JPEG")
    response = await city.http.post(city.url("intake", f"/v1/incidents/{incident}/attachments"), headers=CENTRE,
                                    files={"file": ("现场照片.jpg", image.getvalue(), "image/jpeg")})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def board_row(page: Page, incident: str):
    return page.locator(f'[data-testid="board-table"] tr[data-incident="{incident}"]')


async def test_a_dispatch_from_the_case_page_reaches_the_new_unit(console, page):
    city, _ = console
    incident = await city.report(location=point_in(f"{MEIHUA}001"), title="浏览器测试：楼道堆物需改派")
    before = (await assigned(city, incident))["owner"]["unit_id"]
    await photo_of(city, incident)
    new_unit = f"community-{MEIHUA}"
    assert before != new_unit

    await sign_in(page, "console-dispatcher", ["320508"], f"/cases/{incident}")
    case = page.locator(".case-page")
    await expect(case).to_have_attribute("data-ready", "true", timeout=WAIT)
    await expect(page.get_by_test_id("case-title")).to_have_text("浏览器测试：楼道堆物需改派")
    await expect(page.get_by_test_id("case-owner")).to_have_attribute("data-unit", before)
    # The clock with its time left (an urgent case's sign limit: natural hours), the timeline, the photo (a blob:
    # URL fetched with the token: an <img src> to the API could not send it).
    await expect(page.get_by_test_id("case-countdown")).to_contain_text("剩余")
    await expect(page.get_by_test_id("case-clock")).to_contain_text("绿灯")
    await expect(page.get_by_test_id("case-timeline").locator('li[data-action="assigned"]')).to_be_visible()
    thumbnail = page.get_by_test_id("thumbnail")
    await expect(thumbnail).to_have_attribute("src", re.compile(r"^blob:"), timeout=WAIT)
    assert await thumbnail.evaluate("img => img.complete && img.naturalWidth > 0")
    await screenshot(page, "case-supervisor-320508")
    await no_serious_violations(page, "case-supervisor-320508")

    # A refusal is said in words: another supervisor raised the case to 红牌 meanwhile, so this page's 提醒 is
    # refused (409, levels are never lowered) and the form says why.
    raised = await city.http.post(city.url("supervision", f"/v1/clocks/{incident}/escalate"), headers=CENTRE,
                                  json={"level": "red_card", "note": "浏览器测试：另一位督办员"})
    assert raised.status_code == 200, raised.text
    escalate = page.get_by_test_id("escalate-form")
    await escalate.get_by_label("督办级别").select_option("reminder")
    await escalate.get_by_role("button", name="发起督办").click()
    await expect(escalate.get_by_role("alert")).to_contain_text("案件当前状态不允许此操作：督办 is already at red_card")

    await page.get_by_label("派往单位").select_option(new_unit)
    await page.get_by_label("改派理由").fill("浏览器测试：社区牵头，协调物业清理")
    await page.get_by_role("button", name="改派", exact=True).click()
    await expect(page.get_by_test_id("case-notice")).to_contain_text("已改派至梅花社区居委会")

    async def routed_there() -> dict[str, Any] | None:
        record = await city.assignments(incident)
        return record if (record["current"] or {}).get("unit_id") == new_unit else None
    record = await eventually(routed_there)
    assert record["history"][-1]["kind"] == "dispatched"
    assert "浏览器测试：社区牵头" in record["history"][-1]["reason"]
    await city.case_when(incident, owner__unit_id=new_unit)
    # The page follows the record: the new owner, and the dispatch in its history.
    await expect(page.get_by_test_id("case-owner")).to_have_attribute("data-unit", new_unit, timeout=WAIT)
    await expect(page.locator('[data-testid="case-assignments"] tr[data-kind="dispatched"]')).to_contain_text(
        "梅花社区居委会")
    await expect(page.get_by_test_id("case-timeline").locator('li[data-action="reassigned"]')).to_be_visible()
    await screenshot(page, "case-supervisor-320508-dispatched")
    assert page.outside_requests == [], f"requests left the origin: {page.outside_requests}"


async def test_the_boards_filter_by_督办_level(console, page):
    city, _ = console
    carded = await city.report(location=point_in(f"{MEIHUA}003"), title="浏览器测试：红牌督办件")
    reminded = await city.report(location=point_in(f"{MEIHUA}004"), title="浏览器测试：提醒件")
    supervisor = token("board-supervisor", "supervisor", ["320508"])
    for incident, level in ((carded, "red_card"), (reminded, "reminder")):
        await city.clock_when(incident, phase="sign")
        raised = await city.http.post(city.url("supervision", f"/v1/clocks/{incident}/escalate"), headers=supervisor,
                                      json={"level": level, "note": "浏览器测试：限期办结"})
        assert raised.status_code == 200, raised.text

    await sign_in(page, "board-supervisor", ["320508"], "/boards")
    await expect(page.locator(".board-results")).to_have_attribute("data-ready", "true", timeout=WAIT)
    # The whole board (yellow, red and 督办): both, each with its 督办 badge in words and a link to its page.
    await expect(board_row(page, carded)).to_contain_text("红牌督办")
    await expect(board_row(page, reminded)).to_contain_text("提醒")
    await expect(board_row(page, carded).locator("a[data-case]")).to_have_attribute("href", f"/cases/{carded}")
    # A light is its shape and its words: each row's light badge says which light it is.
    await expect(board_row(page, carded).locator(".light-badge .light-text")).to_have_text(re.compile("灯"))
    await screenshot(page, "boards-supervisor-320508")
    await no_serious_violations(page, "boards-supervisor-320508")

    filters = page.get_by_test_id("board-filters")
    await filters.get_by_label("督办级别").select_option("red_card")
    await filters.get_by_role("button", name="筛选", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/boards\?level=red_card$"))
    await expect(board_row(page, carded)).to_be_visible()
    await expect(board_row(page, reminded)).to_have_count(0)
    levels = await page.locator('[data-testid="board-table"] tbody tr[data-level]').evaluate_all(
        "rows => rows.map(r => r.dataset.level)")
    assert levels and set(levels) == {"red_card"}

    await filters.get_by_label("督办级别").select_option("reminder")
    await filters.get_by_label("看板").select_option("escalated")
    await filters.get_by_role("button", name="筛选", exact=True).click()
    await expect(board_row(page, reminded)).to_be_visible()
    await expect(board_row(page, carded)).to_have_count(0)
    # The filters are in the address: a reload shows the same board.
    await page.reload()
    await expect(page.locator(".board-results")).to_have_attribute("data-ready", "true", timeout=WAIT)
    await expect(page.get_by_label("督办级别")).to_have_value("reminder")
    await expect(board_row(page, reminded)).to_be_visible()
    await expect(board_row(page, carded)).to_have_count(0)
    await screenshot(page, "boards-supervisor-320508-reminder")
    assert page.outside_requests == [], f"requests left the origin: {page.outside_requests}"


async def test_the_queues_list_an_extension_request_approved_from_the_case_page(console, page):
    city, _ = console
    grid = f"{TAOWU}004"
    incident = await city.report(location=point_in(grid), urgency="normal", title="浏览器测试：管道维修需延期")
    owner = (await assigned(city, incident))["owner"]
    worker = token(owner["worker_id"] or "gw", "gridworker", [grid], owner["unit_id"])
    assert (await city.act(incident, worker, "sign")).status_code == 200
    await city.clock_when(incident, phase="handle")
    asked = await city.act(incident, worker, "request_extension", amount=2, unit="working_days",
                           reason="浏览器测试：等待配件到货")
    assert asked.status_code == 200, asked.text
    # And a case nobody can place (no location, no grid): the centre's queue, the whole city's.
    unplaced = await city.http.post(city.url("intake", "/v1/incidents"), headers=ADMIN, json={
        "source": "supervisor", "category": "dispute.neighbour", "urgency": "urgent", "title": "浏览器测试：无法定位"})
    assert unplaced.status_code == 202, unplaced.text
    lost = str(unplaced.json()["id"])

    async def queued() -> bool:
        listed = await city.get("intake", "/v1/incidents", queue="unplaced")
        return any(item["id"] == lost for item in listed["items"])
    await eventually(queued)

    await sign_in(page, "centre-dispatcher", [""], "/queues")
    queues = page.locator(".queues")
    await expect(queues).to_have_attribute("data-ready", "true", timeout=WAIT)
    centre_row = page.locator(f'[data-testid="queue-centre"] tr[data-incident="{lost}"]')
    await expect(centre_row).to_contain_text("无法定位或无责任单位")
    extension_row = page.locator(f'[data-testid="queue-extension"] tr[data-incident="{incident}"]')
    await expect(extension_row).to_contain_text("2 个工作日")
    await expect(extension_row).to_contain_text("等待配件到货")
    await screenshot(page, "queues-supervisor-city")
    await no_serious_violations(page, "queues-supervisor-city")

    await extension_row.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"/cases/{incident}$"))
    await expect(page.locator(".case-page")).to_have_attribute("data-ready", "true", timeout=WAIT)
    form = page.get_by_test_id("extension-form")
    await expect(form).to_contain_text("申请延期 2 个工作日")
    # Working time: a normal case's handle limit is counted in working days, its countdown too.
    await expect(page.get_by_test_id("case-countdown")).to_contain_text("工作")
    await screenshot(page, "case-extension-request")
    await no_serious_violations(page, "case-extension-request")
    await form.get_by_label("批准延期（个工作日）").fill("1")
    await form.get_by_role("button", name="批准延期").click()
    await expect(page.get_by_test_id("case-notice")).to_contain_text("已批准延期 1 个工作日")
    await expect(page.get_by_test_id("extension-form")).to_have_count(0)
    await city.case_when(incident, pending_extension=None, extension_working_days=1.0)
    await expect(page.get_by_test_id("case-timeline").locator('li[data-action="decide_extension"]')).to_contain_text(
        "批准")

    await page.goto("/queues")
    await expect(page.locator(".queues")).to_have_attribute("data-ready", "true", timeout=WAIT)
    await expect(page.locator(f'[data-testid="queue-extension"] tr[data-incident="{incident}"]')).to_have_count(0)
    assert page.outside_requests == [], f"requests left the origin: {page.outside_requests}"


async def test_the_red_and_black_list_exports_as_a_valid_xlsx(console, page, tmp_path):
    city, _ = console
    for category in ("city.ads", "service.errand"):  # two categories: the same one there would be a duplicate
        await city.report(category, location=point_in(f"{MEIHUA}002"), title=f"浏览器测试：考核样本 {category}")
    await sign_in(page, "rankings-leader", ["320508"], "/rankings?level=community", role="leader")
    rankings = page.locator(".rankings-page")
    await expect(rankings).to_have_attribute("data-ready", "true", timeout=WAIT)
    await expect(page.get_by_test_id("ranking-table").locator(f'tr[data-key="{MEIHUA}"]')).to_be_visible()
    await expect(page.locator(".chart canvas").first).to_be_visible()
    await screenshot(page, "rankings-leader-320508")
    await no_serious_violations(page, "rankings-leader-320508")

    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="导出红黑榜（XLSX）").click()
    download = await downloading.value
    assert download.suggested_filename.endswith(".xlsx") and "红黑榜" in download.suggested_filename
    path = tmp_path / "rankings.xlsx"
    await download.save_as(path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[1] == "说明"
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:6] == ("名次", "榜单", "单位代码", "单位名称", "得分", "案件数")
    for name in ("及时签收率", "按期办结率", "满意率", "回退率"):
        assert name in rows[0]
    month = dict(book["说明"].iter_rows(values_only=True))["统计周期"]
    expected = await city.get("supervision", "/v1/rankings", headers=token("x", "leader", ["320508"]), month=month,
                              level="community")
    assert [r[2] for r in rows[1:]] == [u["key"] for u in expected["units"]]
    meihua = next(r for r in rows[1:] if r[2] == MEIHUA)
    assert isinstance(meihua[5], int | float) and meihua[5] >= 2  # 案件数, a number
    await expect(page.get_by_test_id("rankings-download")).to_contain_text("已下载")

    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="导出比率（CSV）").click()
    csv_text = (await (await downloading.value).path()).read_bytes().decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("单位代码,单位名称,案件数")
    assert page.outside_requests == [], f"requests left the origin: {page.outside_requests}"


async def test_a_community_supervisor_never_sees_another_communitys_cases(console, page):
    city, _ = console
    theirs = await city.report(location=point_in(f"{MEIHUA}002"), title="浏览器测试：梅花社区的案件")
    ours = await city.report(location=point_in(f"{TAOWU}002"), title="浏览器测试：桃坞社区的案件")
    centre = token("isolation-centre", "supervisor", [""])
    for incident in (theirs, ours):
        await city.clock_when(incident, phase="sign")
        raised = await city.http.post(city.url("supervision", f"/v1/clocks/{incident}/escalate"), headers=centre,
                                      json={"level": "reminder", "note": "浏览器测试"})
        assert raised.status_code == 200, raised.text

    await sign_in(page, "taowu-console", [TAOWU], "/boards")
    await expect(page.locator(".board-results")).to_have_attribute("data-ready", "true", timeout=WAIT)
    await expect(board_row(page, ours)).to_be_visible()
    grids = await page.locator('[data-testid="board-table"] tbody tr[data-grid]').evaluate_all(
        "rows => rows.map(r => r.dataset.grid)")
    assert grids and all(code.startswith(TAOWU) for code in grids), grids
    content = await page.content()
    for leaked in (MEIHUA, theirs, "梅花"):
        assert leaked not in content, f"{leaked} shown on the boards to a supervisor of {TAOWU}"
    await screenshot(page, "boards-supervisor-320508019045")
    await no_serious_violations(page, "boards-supervisor-320508019045")

    await page.goto(f"/cases/{theirs}")
    await expect(page.get_by_test_id("case-not-found")).to_be_visible(timeout=WAIT)
    await expect(page.get_by_role("heading", level=1)).to_have_text("未找到案件")
    content = await page.content()
    assert "梅花社区的案件" not in content and MEIHUA not in content
    await screenshot(page, "case-not-found-320508019045")
    await no_serious_violations(page, "case-not-found-320508019045")

    await page.goto(f"/cases/{ours}")
    await expect(page.locator(".case-page")).to_have_attribute("data-ready", "true", timeout=WAIT)
    await expect(page.get_by_test_id("case-title")).to_have_text("浏览器测试：桃坞社区的案件")

    await page.goto("/queues")
    await expect(page.locator(".queues")).to_have_attribute("data-ready", "true", timeout=WAIT)
    content = await page.content()
    assert MEIHUA not in content and theirs not in content
    assert page.outside_requests == [], f"requests left the origin: {page.outside_requests}"
