"""The domain's refusals, each with the HTTP status it means at the edge (DESIGN.md §5).

Domain code raises these (never `Problem`, which is the edge's); the one exception handler that
`shared/web.py` installs turns any of them into an RFC 9457 problem. A service's own errors live in its
`domain/errors.py` and subclass one of the families below.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypedDict


class FieldError(TypedDict):
    """One entry of a problem's `errors`: the same shape in every service."""

    field: str
    message: str
    type: str


class DomainError(Exception):
    """Base of every refusal a client can cause. `status` is the HTTP status it answers with."""

    status: ClassVar[int] = 422
    title: ClassVar[str | None] = None

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extensions = extensions
        self.headers: dict[str, str] | None = None  # response headers the refusal carries (Retry-After, …)


class Invalid(DomainError):
    """The request breaks a rule of the domain (422). Names the field when one is to blame."""

    status = 422

    def __init__(self, detail: str, *, field: str = "body", type_: str = "rule",
                 errors: list[FieldError] | None = None, **extensions: Any) -> None:
        super().__init__(detail, errors=errors or [FieldError(field=field, message=detail, type=type_)],
                         **extensions)


class NotFound(DomainError):
    """Nothing by that id, or nothing the caller may see (404: outside one's area is as if absent)."""

    status = 404


class Conflict(DomainError):
    """The request does not fit the state things are in now (409)."""

    status = 409


class Forbidden(DomainError):
    """The caller's role, unit or area does not allow it (403)."""

    status = 403


class TooManyRequests(DomainError):
    """The caller has used up its share for now (429); `retry_after` says in how many seconds to try again."""

    status = 429

    def __init__(self, detail: str, *, retry_after: int, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.retry_after = max(1, retry_after)
        self.headers = {"Retry-After": str(self.retry_after)}


class Unauthorized(DomainError):
    """The request's credentials are wrong, stale or replayed (401)."""

    status = 401
