"""Intake's refusals (DESIGN.md §5), each one of the shared families with the HTTP status it means."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import (
    Conflict,
    DomainError,
    FieldError,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    Unauthorized,
)

if TYPE_CHECKING:
    from services.intake.domain.model import Status


class IllegalTransition(Conflict):
    """The action does not apply to the case as it is now (409, with the actions that do)."""

    title = "Illegal lifecycle move"

    def __init__(self, action: str, status: Status, allowed: list[str], reason: str | None = None) -> None:
        self.action = action
        self.status_now = status
        self.allowed = allowed
        super().__init__(reason or f"cannot {action} a case that is {status.value}",
                         current_status=status.value, allowed_actions=allowed)


class NotPermitted(Forbidden):
    """The caller's role, unit or area does not allow it."""


class InvalidRequest(Invalid):
    """The action's arguments break a rule."""


class UnknownCategory(InvalidRequest):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown category {code!r}")


@dataclass(frozen=True)
class MappingProblem:
    row: int  # index in the mapping as given
    field: str
    message: str


class InvalidMapping(Invalid):
    """A mapping to load that names a category we do not have, or maps one 12345 code or name twice."""

    def __init__(self, problems: list[MappingProblem]) -> None:
        self.problems = problems
        shown = "; ".join(f"rules[{p.row}].{p.field}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"the mapping was not loaded: {shown}{more}", errors=[
            FieldError(field=f"rules.{p.row}.{p.field}", message=p.message, type="rule") for p in problems])


class IncidentNotFound(NotFound):
    def __init__(self, incident_id: uuid.UUID) -> None:
        self.incident_id = incident_id
        super().__init__(f"no incident {incident_id}")


class OrderNotFound(NotFound):
    def __init__(self, order_no: str) -> None:
        super().__init__(f"no case for 12345 order {order_no!r}")


class IdempotencyConflict(Conflict):
    title = "Idempotency-Key reused with a different body"

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was used for a different request")


class SignatureReplayed(Unauthorized):
    title = "Bad signature"

    def __init__(self) -> None:
        super().__init__("this signature was already used (replay)")


class UnknownApiKey(Forbidden):
    def __init__(self) -> None:
        super().__init__("api_key is not one issued to a public client")


class Open311RateLimited(TooManyRequests):
    def __init__(self, per_minute: int, retry_after: int) -> None:
        super().__init__(f"this api_key may file {per_minute} requests a minute; try again in {retry_after} s",
                         retry_after=retry_after)


# ---- attachments (domain/attachments.py) ----


class UnsupportedMedia(DomainError):
    """A file of a type we do not take, judged by its content (415)."""

    status = 415
    title = "Unsupported Media Type"


class AttachmentTooLarge(DomainError):
    status = 413
    title = "Content Too Large"

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"the file is {size:,} bytes; at most {max_bytes:,} are taken per file",
                         max_bytes=max_bytes)


class TooManyAttachments(Conflict):
    title = "Too many attachments"

    def __init__(self, max_per_case: int) -> None:
        super().__init__(f"the case already holds {max_per_case} attachments, the most it may",
                         max_per_case=max_per_case)


class UnreadableFile(Invalid):
    """A file whose first bytes say one type and whose rest cannot be read as it (or an image too large to open)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="file", type_="unreadable_file")


class AttachmentNotFound(NotFound):
    def __init__(self, attachment_id: uuid.UUID, what: str = "attachment") -> None:
        super().__init__(f"no {what} {attachment_id} on this case")
