"""A local stand-in for the outside systems, for development and tests: an SMS gateway (`/sms`), the
12345 platform's callback receiver (`/webhook`), subscribers' webhook receivers (`/hooks/{name}`) and
an SMTP sink (`/mail` shows what it received).
It records what it receives instead of texting or mailing anyone.

It honours `Idempotency-Key` (and, for mail, `Message-ID`) the way real providers do (same key → the
first answer again, recorded once), checks webhook signatures like 12345 would (the callback secret for
`/webhook`; for `/hooks/{name}` the subscriber's own secret, registered with `POST /control
{"hook_secrets": {name: secret}}`: a hook with none refuses everything), keeps its log in a JSON-lines file
so a restart forgets nothing, and can be told to fail (`POST /control`) so tests can watch retries.

Development and tests only: `python -m services.notifications sms-gateway` refuses to start outside them. What
it records and its controls (`POST /control`, `GET /sms`, `/webhook`, `/hooks/{name}`, `/mail`) answer only to
clients on this machine (loopback), however it is bound; from anywhere else they are 403.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.settings import is_loopback
from shared.signing import SignatureCheck, SignatureError, request_target


class SmsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=5, max_length=20)
    text: str = Field(min_length=1, max_length=1000)


SMS_OPENAPI: dict[str, Any] = {
    "parameters": [{"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
                   for name in ("Idempotency-Key", "traceparent")],
    "requestBody": {"required": True, "content": {"application/json": {"schema": SmsIn.model_json_schema()}}},
}


class ControlIn(BaseModel):
    fail_next: int = Field(0, ge=0, description="answer this many HTTP requests with `status`")
    status: int = Field(500, ge=400, le=599)
    mail_fail_next: int = Field(0, ge=0, description="answer this many mails with SMTP `mail_code`")
    mail_code: int = Field(451, ge=400, le=599, description="4xx: try again later; 5xx: refused for good")
    gone: list[str] = Field(default_factory=list, description="hooks that answer 410 Gone from now on")
    hook_secrets: dict[str, str] = Field(default_factory=dict, description=(
        "each hook's signing secret (the subscription's, from its PUT or rotation): its posts are checked with it"))


class GatewayLog:
    """What the gateway received, by kind, deduplicated by idempotency key, kept in a JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.by_key: dict[str, dict] = {}
        self.records: dict[str, list[dict]] = {"sms": [], "webhook": [], "mail": [], "hook": []}
        self._file: TextIO | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self.records[record.get("kind", "sms")].append(record)
                    self.by_key[record["idempotency_key"]] = record

    def keep(self, record: dict) -> str:
        """Record it; returns it as JSON (what the gateway answers)."""
        # Flushed to the OS, which survives the process being killed (what the tests do to it); no fsync:
        # this development stand-in for a provider need not survive the machine, and an fsync per message
        # made it the slowest stage of the whole stack under load. The file stays open: on the 2 cores the
        # benchmarks share with it, an open and a close per message were a tenth of its CPU.
        line = json.dumps(record, ensure_ascii=False)
        if self._file is None or self._file.closed:
            self._file = self.path.open("a", encoding="utf-8")
        try:
            self._file.write(line + "\n")
            self._file.flush()
        except OSError:  # a disk full, say: nothing of this record may stay buffered and join the next one
            self.close()
            raise
        self.by_key[record["idempotency_key"]] = record
        self.records[record["kind"]].append(record)
        return line

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass


class MailSink:
    """aiosmtpd handler: records each message once (by Message-ID), or fails as told."""

    def __init__(self, log: GatewayLog, failures: dict[str, int]) -> None:
        self.log = log
        self.failures = failures

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.failures["mail_left"] > 0:
            self.failures["mail_left"] -= 1
            code = self.failures["mail_code"]
            return f"{code} {'5.7.1' if code >= 500 else '4.3.0'} injected failure"
        raw = envelope.original_content or envelope.content or b""
        message: Any = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=policy.default)
        key = str(message["Message-ID"] or uuid.uuid4())
        if key not in self.log.by_key:
            body = message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
            self.log.keep({"kind": "mail", "message_id": str(uuid.uuid4()), "idempotency_key": key,
                           "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                           "subject": str(message["Subject"] or ""),
                           "text": body.get_content().rstrip() if body is not None else "",
                           "received_at": datetime.now(UTC).isoformat()})
        return "250 2.0.0 OK"


def from_this_machine(request: Request) -> None:
    """The gateway's records and controls are for whoever runs it on this machine: 403 to anyone else."""
    client = request.client.host if request.client else ""
    if not is_loopback(client):
        raise HTTPException(403, "the local gateway's records and controls answer on this machine only")


def create_gateway_app(log_path: Path, hotline_secret: str | None = None, smtp_port: int | None = None,
                       smtp_host: str = "127.0.0.1", hook_secrets: dict[str, str] | None = None) -> FastAPI:
    """`hotline_secret`: the secret 12345's callbacks are signed with (notifications' callback secret); None
    checks nothing. `hook_secrets`: the subscribers' secrets by hook name (more with `POST /control`)."""
    log = GatewayLog(log_path)
    failures = {"left": 0, "status": 500, "mail_left": 0, "mail_code": 451}
    gone: set[str] = set()
    secrets_of_hooks: dict[str, str] = dict(hook_secrets or {})
    local_only = [Depends(from_this_machine)]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server = None
        if smtp_port is not None:
            sink = MailSink(log, failures)
            loop = asyncio.get_running_loop()
            server = await loop.create_server(lambda: SMTP(sink, hostname="grid-local-sink", enable_SMTPUTF8=True),
                                              host=smtp_host, port=smtp_port)
        try:
            yield
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()
            log.close()

    app = FastAPI(title="Local gateway: SMS, mail and 12345 callbacks (records them)", lifespan=lifespan)
    messages, webhooks, mails = log.records["sms"], log.records["webhook"], log.records["mail"]

    # Every SMS of a benchmark passes here, on the cores the platform is measured on: parsed by hand, as intake's
    # report route is, and answered with the JSON line it wrote (0.45 -> 0.30 ms of CPU per SMS with the open file,
    # bench/README.md session 34).
    @app.post("/sms", status_code=201, openapi_extra=SMS_OPENAPI)
    async def send(request: Request) -> Response:
        # As FastAPI answered the body parameter: JSON only (a sender that stopped saying so is caught here, as a
        # real provider would refuse it), and its errors located in the body.
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            return JSONResponse({"detail": [{"type": "model_attributes_type", "loc": ["body"],
                                             "msg": "the body must be sent as application/json"}]}, status_code=422)
        try:
            body = SmsIn.model_validate_json(await request.body())
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return JSONResponse({"detail": [{**e, "loc": ["body", *e["loc"]]} for e in errors]}, status_code=422)
        if failures["left"] > 0:
            failures["left"] -= 1
            return JSONResponse({"error": "injected failure"}, status_code=failures["status"])
        key = request.headers.get("idempotency-key") or str(uuid.uuid4())
        if key in log.by_key:
            return JSONResponse({**log.by_key[key], "duplicate": True})
        record = {"kind": "sms", "message_id": str(uuid.uuid4()), "idempotency_key": key, "phone": body.phone,
                  "text": body.text, "received_at": datetime.now(UTC).isoformat()}
        # The sender's trace (tracing on: shared/tracing.py), as a real provider would log it.
        if traceparent := request.headers.get("traceparent"):
            record["traceparent"] = traceparent
        return Response(log.keep(record), status_code=201, media_type="application/json")

    async def take_signed_post(request: Request, idempotency_key: str | None, secret: str | None,
                               header_prefix: str, record: dict, gone: bool = False) -> JSONResponse:
        """A signed JSON post (12345's callbacks, subscribers' webhooks): check the signature, answer 410 for
        a receiver marked gone, fail as told, then record it once per idempotency key."""
        raw = await request.body()
        if secret is not None:
            try:
                SignatureCheck(secret).verify(request.method, request_target(request.scope),
                                              request.headers.get(f"{header_prefix}-timestamp"),
                                              request.headers.get(f"{header_prefix}-signature"), raw, time.time())
            except SignatureError as exc:
                return JSONResponse({"error": str(exc)}, status_code=401)
        if gone:
            return JSONResponse({"error": f"hook {record.get('hook')} is gone"}, status_code=410)
        if failures["left"] > 0:
            failures["left"] -= 1
            return JSONResponse({"error": "injected failure"}, status_code=failures["status"])
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        key = idempotency_key or str(uuid.uuid4())
        if key in log.by_key:
            return JSONResponse({**log.by_key[key], "duplicate": True})
        record = {**record, "message_id": str(uuid.uuid4()), "idempotency_key": key, "body": body,
                  "received_at": datetime.now(UTC).isoformat()}
        if traceparent := request.headers.get("traceparent"):
            record["traceparent"] = traceparent
        log.keep(record)
        return JSONResponse(record, status_code=201)

    @app.post("/webhook")
    async def webhook(request: Request, idempotency_key: str | None = Header(None)) -> JSONResponse:
        return await take_signed_post(request, idempotency_key, hotline_secret, "x-hotline", {"kind": "webhook"})

    @app.post("/hooks/{name}")
    async def hook(name: str, request: Request, idempotency_key: str | None = Header(None)) -> JSONResponse:
        if name not in secrets_of_hooks:
            return JSONResponse({"error": f"no secret registered for hook {name} (POST /control "
                                          '{"hook_secrets": {...}})'}, status_code=401)
        return await take_signed_post(request, idempotency_key, secrets_of_hooks[name], "x-grid",
                                      {"kind": "hook", "hook": name}, gone=name in gone)

    @app.get("/hooks/{name}", dependencies=local_only)
    async def hook_received(name: str) -> list[dict]:
        return [h for h in log.records["hook"] if h["hook"] == name]

    @app.get("/webhook", dependencies=local_only)
    async def webhooks_received(order_no: str | None = None) -> list[dict]:
        return [w for w in webhooks if order_no is None or w["body"].get("order_no") == order_no]

    @app.get("/sms", dependencies=local_only)
    async def received(phone: str | None = None, contains: str | None = None) -> list[dict]:
        return [m for m in messages if (phone is None or m["phone"] == phone)
                and (contains is None or contains in m["text"])]

    @app.get("/mail", dependencies=local_only)
    async def mail_received(to: str | None = None, contains: str | None = None) -> list[dict]:
        return [m for m in mails if (to is None or to in m["to"])
                and (contains is None or contains in m["subject"] + m["text"])]

    @app.post("/control", dependencies=local_only)
    async def control(body: ControlIn) -> dict:
        failures.update(left=body.fail_next, status=body.status, mail_left=body.mail_fail_next,
                        mail_code=body.mail_code)
        gone.update(body.gone)
        secrets_of_hooks.update(body.hook_secrets)
        return {**failures, "gone": sorted(gone), "hooks_with_secrets": sorted(secrets_of_hooks)}

    @app.get("/health")
    async def health(request: Request) -> dict:
        return {"status": "ok", "messages": len(messages), "mails": len(mails)}

    return app
