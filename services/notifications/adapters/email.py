"""Email over SMTP (aiosmtplib). The delivery id becomes the Message-ID, so a retry after a crash
between the server's 250 and our commit carries the same id and a receiving system can drop the copy
(the local sink does)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from services.notifications.domain.delivery import Attempt, Outgoing

MESSAGE_ID_DOMAIN = "grid-notifications"


def message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@{MESSAGE_ID_DOMAIN}>"


def build_message(delivery: Outgoing, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.address
    message["Subject"] = delivery.subject or delivery.body.splitlines()[0][:60]
    message["Message-ID"] = message_id(delivery.id)
    message["Date"] = formatdate(localtime=False)
    message.set_content(delivery.body)  # utf-8, transfer-encoded: Chinese survives 7-bit servers
    return message


class SmtpEmail:
    def __init__(self, host: str, port: int, sender: str, timeout_seconds: float = 10.0,
                 username: str | None = None, password: str | None = None, starttls: bool = False) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._timeout = timeout_seconds
        self._username, self._password, self._starttls = username, password, starttls

    async def send(self, delivery: Outgoing) -> Attempt:
        try:
            refused, _ = await aiosmtplib.send(
                build_message(delivery, self._sender), hostname=self._host, port=self._port,
                username=self._username, password=self._password, start_tls=self._starttls,
                timeout=self._timeout)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            code = first.code if first else 550
            return Attempt(None, f"SMTP {code}: {first.message if first else exc}", permanent=code >= 500)
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the server refuses this message for good; 4xx: come back later.
            return Attempt(None, f"SMTP {exc.code}: {exc.message}", permanent=exc.code >= 500)
        except (aiosmtplib.SMTPException, OSError) as exc:  # refused, reset, timed out: no answer
            return Attempt(None, f"{type(exc).__name__}: {exc}")
        if refused:  # one recipient per message, so a partial refusal is a refusal
            reply = next(iter(refused.values()))
            return Attempt(None, f"SMTP {reply.code}: {reply.message}", permanent=reply.code >= 500)
        return Attempt(250)

    async def close(self) -> None:
        """Nothing held open: each send opens and closes its own SMTP session."""
