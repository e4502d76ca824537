"""A local stand-in for the outside systems, for development and tests: an SMS gateway (`/sms`) and the
12345 platform's callback receiver (`/webhook`). It records what it receives instead of texting anyone.

It honours `Idempotency-Key` the way real providers do (same key → the first answer again, recorded
once), checks webhook signatures like 12345 would, keeps its log in a JSON-lines file so a restart
forgets nothing, and can be told to fail (`POST /control`) so tests can watch retries.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shared.signing import SignatureCheck, SignatureError


class SmsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=5, max_length=20)
    text: str = Field(min_length=1, max_length=1000)


class ControlIn(BaseModel):
    fail_next: int = Field(0, ge=0, description="answer this many requests with `status`")
    status: int = Field(500, ge=400, le=599)


def create_gateway_app(log_path: Path, hotline_secret: str | None = None) -> FastAPI:
    app = FastAPI(title="Local gateway: SMS and 12345 callbacks (records them)")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    by_key: dict[str, dict] = {}
    messages: list[dict] = []
    webhooks: list[dict] = []
    if log_path.exists():
        for line in log_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                (webhooks if record.get("kind") == "webhook" else messages).append(record)
                by_key[record["idempotency_key"]] = record
    failures = {"left": 0, "status": 500}

    def keep(record: dict) -> None:
        with log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False) + "\n")
            log.flush()
            os.fsync(log.fileno())
        by_key[record["idempotency_key"]] = record

    @app.post("/sms")
    async def send(body: SmsIn, idempotency_key: str | None = Header(None)) -> JSONResponse:
        if failures["left"] > 0:
            failures["left"] -= 1
            return JSONResponse({"error": "injected failure"}, status_code=failures["status"])
        key = idempotency_key or str(uuid.uuid4())
        if key in by_key:
            return JSONResponse({**by_key[key], "duplicate": True})
        record = {"kind": "sms", "message_id": str(uuid.uuid4()), "idempotency_key": key, "phone": body.phone,
                  "text": body.text, "received_at": datetime.now(UTC).isoformat()}
        keep(record)
        messages.append(record)
        return JSONResponse(record, status_code=201)

    @app.post("/webhook")
    async def webhook(request: Request, idempotency_key: str | None = Header(None)) -> JSONResponse:
        raw = await request.body()
        if hotline_secret is not None:
            try:
                SignatureCheck(hotline_secret).verify(request.headers.get("x-hotline-timestamp"),
                                                      request.headers.get("x-hotline-signature"), raw, time.time())
            except SignatureError as exc:
                return JSONResponse({"error": str(exc)}, status_code=401)
        if failures["left"] > 0:
            failures["left"] -= 1
            return JSONResponse({"error": "injected failure"}, status_code=failures["status"])
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        key = idempotency_key or str(uuid.uuid4())
        if key in by_key:
            return JSONResponse({**by_key[key], "duplicate": True})
        record = {"kind": "webhook", "message_id": str(uuid.uuid4()), "idempotency_key": key,
                  "body": body, "received_at": datetime.now(UTC).isoformat()}
        keep(record)
        webhooks.append(record)
        return JSONResponse(record, status_code=201)

    @app.get("/webhook")
    async def webhooks_received(order_no: str | None = None) -> list[dict]:
        return [w for w in webhooks if order_no is None or w["body"].get("order_no") == order_no]

    @app.get("/sms")
    async def received(phone: str | None = None, contains: str | None = None) -> list[dict]:
        return [m for m in messages if (phone is None or m["phone"] == phone)
                and (contains is None or contains in m["text"])]

    @app.post("/control")
    async def control(body: ControlIn) -> dict:
        failures.update(left=body.fail_next, status=body.status)
        return failures

    @app.get("/health")
    async def health(request: Request) -> dict:
        return {"status": "ok", "messages": len(messages)}

    return app
