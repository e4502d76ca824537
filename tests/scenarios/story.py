"""What a scenario story does and reads, as the people and systems around the platform would: report, act,
dispatch, read each service's view of a case, move the virtual clock. Everything waits by polling for the state
it expects (`eventually`), never by sleeping a guess."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx

from shared.auth import issue_token
from shared.settings import DEV_JWT_SECRET
from shared.signing import sign
from tests.e2e.stack import Stack, alert_stream, eventually

T = TypeVar("T")
GRID_1 = "320508019044001"
IN_GRID_1 = {"lon": 120.612, "lat": 31.31}  # 梅花社区第1网格, outside the school


def token(sub: str, role: str, area: list[str], unit: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, sub, role, area, unit)}"}


ADMIN = token("scenario-admin", "admin", [""])
HOTLINE_SECRET = "hotline-dev-secret"  # the stack runs with the development secrets (ENV=test)
CENTRE = token("centre", "supervisor", [""])


class City:
    """The running platform on the small demo city, seen through its four public APIs and the SMS gateway."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http

    @classmethod
    @asynccontextmanager
    async def on(cls, stack: Stack) -> AsyncIterator[City]:
        async with httpx.AsyncClient(timeout=10) as http:
            yield cls(stack, http)

    def url(self, service: str, path: str) -> str:
        return self.stack.url(service) + path

    async def get(self, service: str, path: str, headers: dict[str, str] = ADMIN, **params: Any) -> Any:
        response = await self.http.get(self.url(service, path), headers=headers, params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    # ---- what people do

    async def report(self, category: str = "dispute.neighbour", urgency: str = "urgent",
                     location: dict[str, float] = IN_GRID_1, title: str = "楼上漏水邻里纠纷") -> str:
        response = await self.http.post(self.url("intake", "/v1/incidents"), headers=ADMIN, json={
            "source": "gridworker", "category": category, "urgency": urgency, "title": title,
            "location": location, "reporter": {"name": "王先生", "phone": "13812345678"}})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def act(self, incident_id: str, headers: dict[str, str], action: str, **body: Any) -> httpx.Response:
        return await self.http.post(self.url("intake", f"/v1/incidents/{incident_id}/actions"), headers=headers,
                                    json={"action": action, **body})

    async def dispatch(self, incident_id: str, unit: str, headers: dict[str, str] = CENTRE,
                       reason: str = "中心改派", worker: str | None = None) -> httpx.Response:
        return await self.http.post(self.url("routing", f"/v1/assignments/{incident_id}/dispatch"), headers=headers,
                                    json={"unit": unit, "worker": worker, "reason": reason})

    async def hotline(self, path: str, body: dict[str, Any], *, at: int | None = None) -> httpx.Response:
        """What 12345 sends us: a signed POST (DESIGN §6; the signature covers method, path, time and body).
        `at` is the request's timestamp (now by default): a resend with its own timestamp is a new request,
        not a replayed signature."""
        raw = json.dumps(body, ensure_ascii=False).encode()
        stamp = str(int(time.time()) if at is None else at)
        url = httpx.URL(self.url("intake", path))
        return await self.http.post(url, content=raw, headers={
            "Content-Type": "application/json", "X-Hotline-Timestamp": stamp,
            "X-Hotline-Signature": sign(HOTLINE_SECRET, "POST", url.raw_path, stamp, raw)})

    async def callbacks(self, order_no: str) -> list[str]:
        """The status callbacks 12345 received for an order, in the order they came."""
        received = (await self.http.get(self.stack.url("sms") + "/webhook", params={"order_no": order_no})).json()
        return [w["body"]["callback"] for w in received]

    async def now(self) -> str:
        return str((await self.get("supervision", "/v1/clock"))["now"])

    async def advance(self, seconds: float) -> None:
        response = await self.http.post(self.url("supervision", "/v1/clock/advance"), headers=ADMIN,
                                        json={"seconds": seconds})
        assert response.status_code == 200, response.text

    async def advance_to(self, moment: datetime) -> datetime:
        """Move the virtual clock to `moment` (it then runs on from there) and wait until every process follows:
        the other processes re-read supervision's clock every half second (shared/clock.py follow_clock_url,
        shared/runtime.py), so the stack is in step once a full second has run past `moment`."""
        now = datetime.fromisoformat(await self.now())
        assert moment > now, (moment, now)
        await self.advance((moment - now).total_seconds())

        async def settled() -> datetime | None:
            later = datetime.fromisoformat(await self.now())
            return later if later >= moment + timedelta(seconds=1.2) else None
        return await eventually(settled, interval=0.1)

    # ---- what each service shows

    async def case(self, incident_id: str) -> dict[str, Any]:
        return await self.get("intake", f"/v1/incidents/{incident_id}")  # type: ignore[no-any-return]

    async def case_when(self, incident_id: str, **expected: Any) -> dict[str, Any]:
        seen: list[dict[str, Any]] = []

        async def probe() -> dict[str, Any] | None:
            case = await self.case(incident_id)
            seen[:] = [case]
            return case if all(_at(case, k) == v for k, v in expected.items()) else None
        return await _waiting_for(probe, expected, seen)

    async def assignments(self, incident_id: str) -> dict[str, Any]:
        return await self.get("routing", f"/v1/assignments/{incident_id}")  # type: ignore[no-any-return]

    async def clock(self, incident_id: str) -> dict[str, Any] | None:
        response = await self.http.get(self.url("supervision", f"/v1/clocks/{incident_id}"), headers=ADMIN)
        return response.json() if response.status_code == 200 else None

    async def clock_when(self, incident_id: str, **expected: Any) -> dict[str, Any]:
        seen: list[dict[str, Any] | None] = []

        async def probe() -> dict[str, Any] | None:
            clock = await self.clock(incident_id)
            seen[:] = [clock]
            return clock if clock and all(clock.get(k) == v for k, v in expected.items()) else None
        return await _waiting_for(probe, expected, seen)

    async def deliveries(self, incident_id: str) -> list[dict[str, Any]]:
        return await self.get("notifications", "/v1/deliveries", incident_id=incident_id)  # type: ignore

    async def sent(self, incident_id: str, words: str, channel: str = "sms") -> list[dict[str, Any]]:
        """The case's deliveries on `channel` whose text says `words`, once sent (the delivery log keeps each
        one's own text, even when the gateway got it inside a bundle)."""
        return [d for d in await self.get("notifications", "/v1/deliveries", incident_id=incident_id, channel=channel)
                if words in d["body"] and d["status"] == "sent"]

    async def sent_when(self, incident_id: str, words: str, count: int = 1) -> list[dict[str, Any]]:
        """Once at least `count` such deliveries were sent: all of them (assert the exact number yourself)."""
        async def probe() -> list[dict[str, Any]] | None:
            found = await self.sent(incident_id, words)
            return found if len(found) >= count else None
        return await eventually(probe)

    async def sms_to(self, phone: str) -> list[dict[str, Any]]:
        return (await self.http.get(self.stack.url("sms") + "/sms", params={"phone": phone})).json()  # type: ignore

    async def live_alert(self, headers: dict[str, str], name: str, incident_id: str,
                         timeout: float = 45.0) -> dict[str, Any]:
        """The first alert `name` of the case on the supervisors' live stream (GET /v1/alerts/stream, read from its
        start as a supervisor's screen reconnecting with no Last-Event-ID would): its id and data. Fails after
        `timeout` seconds without one."""
        try:
            async with asyncio.timeout(timeout):
                async for event in alert_stream(self.http, self.stack.url("notifications"), headers, timeout):
                    if event.get("event") == name and event["data"].get("incident_id") == incident_id:
                        return {"id": event.get("id"), "data": event["data"]}
        except (TimeoutError, httpx.TimeoutException):
            pass
        raise AssertionError(f"no {name} of case {incident_id} on the live stream within {timeout} s")


async def _waiting_for(probe: Callable[[], Awaitable[T | None]], expected: dict[str, Any], seen: list[Any]) -> T:
    """`eventually(probe)`, failing with what was expected and the last document seen (not just None)."""
    try:
        return await eventually(probe)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; expected {expected}; last seen: {seen[-1] if seen else None!r}") from None


def _at(document: dict[str, Any], dotted: str) -> Any:
    """`owner__unit_id` reads document["owner"]["unit_id"]."""
    value: Any = document
    for part in dotted.split("__"):
        value = (value or {}).get(part)
    return value
