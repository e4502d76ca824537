"""Case actions with an Idempotency-Key (DESIGN §5), in-process against a real Postgres: a grid worker's phone
resends its offline queue until it hears an answer (issue 16, the grid-worker app), so each action is taken once.
Same key + same case and body: the first answer again (`Idempotent-Replayed`), nothing applied twice, even when
the resends race or the case has moved on since; the key with another body or on another case: 409, nothing
applied; a refused action holds no key; a 办结 resent with its photos is one 办结; keys are the caller's own."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.integration.test_intake_api import WORKER, WORKER_REPORT, assign, token

ANOTHER_WORKER = token("w2", "gridworker", ["320508019044001"], "grid-1")


async def rows(dsn: str, sql: str, *args) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def timeline_actions(dsn: str, incident_id: str) -> list[str]:
    found = await rows(dsn, "SELECT action FROM timeline_entry WHERE incident_id = $1 ORDER BY id", incident_id)
    return [r["action"] for r in found]


async def events(dsn: str, kind: str) -> int:
    return len(await rows(dsn, "SELECT 1 FROM outbox WHERE payload::jsonb->>'type' = $1", kind))


async def assigned_case(client) -> str:
    created = await client.post("/v1/incidents", json=WORKER_REPORT, headers=WORKER)
    assert created.status_code == 202, created.text
    incident_id = created.json()["id"]
    await assign(client, incident_id)
    return incident_id


def act(client, incident_id: str, body: dict, key: str | None, headers: dict[str, str] = WORKER):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post(f"/v1/incidents/{incident_id}/actions", json=body, headers={**headers, **extra})


async def test_concurrent_resends_of_a_sign_sign_once_and_all_get_the_first_answer(intake):
    incident_id = await assigned_case(intake)
    responses = await asyncio.gather(*[act(intake, incident_id, {"action": "sign"}, "queue-sign-1")
                                       for _ in range(6)])
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert {r.json()["status"] for r in responses} == {"in_progress"}
    assert sorted(r.headers.get("idempotent-replayed") for r in responses if r.headers.get("idempotent-replayed")) \
        == ["true"] * 5  # one took it, five replayed
    assert (await timeline_actions(intake.dsn, incident_id)).count("sign") == 1
    assert await events(intake.dsn, "intake.incident.signed") == 1


async def test_a_resent_progress_note_is_one_note_and_replays_the_first_answer_after_the_case_moved_on(intake):
    incident_id = await assigned_case(intake)
    assert (await act(intake, incident_id, {"action": "sign"}, "q-1")).status_code == 200
    note = {"action": "progress", "note": "已到现场，正在协调"}
    first = await act(intake, incident_id, note, "q-2")
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    finished = await act(intake, incident_id, {"action": "submit_result", "result": "已调解"}, "q-3")
    assert finished.json()["status"] == "pending_verification"
    again = await act(intake, incident_id, note, "q-2")  # the phone never heard the first answer
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # what the first request was answered, not the case as it is now
    assert first.json()["status"] == "in_progress"
    assert (await timeline_actions(intake.dsn, incident_id)).count("progress") == 1
    assert await events(intake.dsn, "intake.incident.progressed") == 1


async def test_the_key_with_another_body_or_on_another_case_is_409_and_applies_nothing(intake):
    incident_id = await assigned_case(intake)
    other_case = await assigned_case(intake)
    assert (await act(intake, incident_id, {"action": "sign"}, "q-10")).status_code == 200
    assert (await act(intake, incident_id, {"action": "progress", "note": "一"}, "q-11")).status_code == 200
    reused = await act(intake, incident_id, {"action": "progress", "note": "二"}, "q-11")
    assert reused.status_code == 409 and reused.headers["content-type"] == "application/problem+json"
    elsewhere = await act(intake, other_case, {"action": "sign"}, "q-10")
    assert elsewhere.status_code == 409
    assert (await timeline_actions(intake.dsn, incident_id)).count("progress") == 1
    assert "sign" not in await timeline_actions(intake.dsn, other_case)
    assert (await intake.get(f"/v1/incidents/{other_case}", headers=WORKER)).json()["status"] == "assigned"


async def test_a_refused_action_holds_no_key_and_its_resend_is_taken_once_the_case_allows_it(intake):
    incident_id = await assigned_case(intake)
    finish = {"action": "submit_result", "result": "已清理完毕"}
    early = await act(intake, incident_id, finish, "q-20")  # not signed yet: refused
    assert early.status_code == 409
    assert (await act(intake, incident_id, {"action": "sign"}, "q-21")).status_code == 200
    later = await act(intake, incident_id, finish, "q-20")
    assert later.status_code == 200 and "idempotent-replayed" not in later.headers
    assert later.json()["status"] == "pending_verification"
    assert (await timeline_actions(intake.dsn, incident_id)).count("submit_result") == 1


async def test_a_finish_resent_with_its_photos_is_one_finish(intake):
    incident_id = await assigned_case(intake)
    assert (await act(intake, incident_id, {"action": "sign"}, "q-30")).status_code == 200
    # An attachment id the case does not hold is refused (422) and holds no key …
    missing = {"action": "submit_result", "result": "已处置", "attachments": ["00000000-0000-4000-8000-000000000001"]}
    assert (await act(intake, incident_id, missing, "q-31")).status_code == 422
    # … the finish without photos, resent three times, is one 办结 and one event.
    finish = {"action": "submit_result", "result": "已处置"}
    answers = [await act(intake, incident_id, finish, "q-32") for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert [a.headers.get("idempotent-replayed") for a in answers] == [None, "true", "true"]
    assert (await timeline_actions(intake.dsn, incident_id)).count("submit_result") == 1
    assert await events(intake.dsn, "intake.incident.result_submitted") == 1


async def test_keys_are_the_callers_own_and_actions_without_a_key_are_unchanged(intake):
    incident_id = await assigned_case(intake)
    assert (await act(intake, incident_id, {"action": "sign"}, "shared-key")).status_code == 200
    # Another caller's key of the same name is not a resend of this one: their action is judged on its own.
    theirs = await act(intake, incident_id, {"action": "progress", "note": "我也到了"}, "shared-key", ANOTHER_WORKER)
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    # Without a key, the same note twice is two notes, as before.
    for _ in range(2):
        assert (await act(intake, incident_id, {"action": "progress", "note": "无键"}, None)).status_code == 200
    assert (await timeline_actions(intake.dsn, incident_id)).count("progress") == 3
    assert len(await rows(intake.dsn, "SELECT 1 FROM action_idempotency")) == 2


async def test_the_openapi_document_shows_the_actions_idempotency_key(intake):
    document = (await intake.get("/openapi.json")).json()
    operation = document["paths"]["/v1/incidents/{incident_id}/actions"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["incident_id", "idempotency-key"]
    too_long = await act(intake, "00000000-0000-4000-8000-000000000001", {"action": "sign"}, "k" * 201)
    assert too_long.status_code == 422
