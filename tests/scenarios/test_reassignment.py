"""改派 after signing, told as the command centre lives it (DOMAIN §4: 改派 at any open state; a reassignment
gives a fresh sign clock; the old owner can no longer act), checked in every service's own view."""

from __future__ import annotations

from tests.scenarios.story import CENTRE, GRID_1, City, eventually, token

OLD = {"unit": "grid-320508019044001", "worker": "gw-320508019044001", "phone": "13900000001"}
NEW = {"unit": "grid-320508019044002", "worker": "gw-320508019044002", "phone": "13900000002",
       "grid": "320508019044002"}


def worker(who: dict[str, str], grid: str) -> dict[str, str]:
    return token(who["worker"], "gridworker", [grid], unit=who["unit"])


async def test_a_case_reassigned_after_signing_starts_afresh_with_its_new_owner(city: City):
    incident = await city.report()
    await city.case_when(incident, status="assigned", owner__worker_id=OLD["worker"])
    signed = await city.act(incident, worker(OLD, GRID_1), "sign")
    assert signed.status_code == 200, signed.text
    await city.clock_when(incident, phase="handle", running=True)

    elsewhere = await city.dispatch(incident, NEW["unit"], token("sup-x", "supervisor", ["320509"]))
    assert elsewhere.status_code == 403  # a district supervisor elsewhere may not move it (DESIGN §5)
    moved = await city.dispatch(incident, NEW["unit"], CENTRE, reason="属地调整", worker=NEW["worker"])
    assert moved.status_code == 200, moved.text

    # intake: back to assigned for the new owner, the timeline says from whom
    case = await city.case_when(incident, status="assigned", owner__unit_id=NEW["unit"])
    reassigned = [t for t in case["timeline"] if t["action"] == "reassigned"]
    assert len(reassigned) == 1 and reassigned[0]["detail"]["previous_unit"] == OLD["unit"]
    # routing: one dispatch on top of the first assignment
    history = await city.assignments(incident)
    assert [h["kind"] for h in history["history"]] == ["assigned", "dispatched"]
    assert history["current"]["unit_id"] == NEW["unit"]
    # supervision: the old owner's handle clock stopped; a fresh sign clock runs for the new owner
    clock = await city.clock_when(incident, phase="sign", running=True, unit_id=NEW["unit"])
    phases = [(h["phase"], h["stopped_at"] is None) for h in clock["history"]]
    assert phases.count(("handle", True)) == 0 and phases.count(("sign", True)) == 1
    # notifications: the new owner hears of the case once
    notices = await eventually(lambda: city.sms_to(NEW["phone"]))
    assert len([n for n in notices if "新案件" in n["text"]]) == 1

    # the old owner can no longer act; the new one signs afresh
    refused = await city.act(incident, worker(OLD, GRID_1), "return", reason="非本单位职责")
    assert refused.status_code == 403
    signed_again = await city.act(incident, worker(NEW, NEW["grid"]), "sign")
    assert signed_again.status_code == 200, signed_again.text
    await city.clock_when(incident, phase="handle", running=True, unit_id=NEW["unit"])
    assert len([h for h in (await city.assignments(incident))["history"] if h["kind"] == "dispatched"]) == 1
