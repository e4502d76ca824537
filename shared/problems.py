"""RFC 9457 problem details: the one way any service reports an error to a client."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import DomainError, FieldError

PROBLEM_JSON = "application/problem+json"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(Exception):
    """Raise anywhere at the edge (or map a domain error to it) to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.type = type_
        self.errors = errors
        self.headers = headers
        self.extensions = extensions

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        body["detail"] = self.detail
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(problem.body(), status_code=problem.status, media_type=PROBLEM_JSON,
                        headers=problem.headers)


def _field_errors(exc: RequestValidationError | ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("body",)]
        errors.append(FieldError(field=".".join(loc) or "body", message=err.get("msg", "invalid"),
                                 type=err.get("type", "value_error")))
    return errors


# Data exceptions a client's text or number can cause, though validation let it through: a NUL character or
# invalid UTF-8 (22021, 22P05), a string or number past its column (22001, 22003), a date-time out of range
# (22008). Any other data exception is our own code's doing, and stays a logged 500.
UNSTORABLE = {"22021": "a text in the request contains a character that cannot be stored (NUL or invalid UTF-8)",
              "22P05": "a text in the request contains a character that cannot be stored (NUL or invalid UTF-8)",
              "22001": "a text in the request is too long to be stored",
              "22003": "a number in the request is out of the range that can be stored",
              "22008": "a date or time in the request is out of the range that can be stored"}


def unstorable_problem(exc: asyncpg.DataError) -> Problem | None:
    """A 422 for a value the database refused (the transaction rolled back: nothing changed), or None."""
    detail = UNSTORABLE.get(exc.sqlstate or "")
    if detail is None:
        return None
    return Problem(422, detail, errors=[FieldError(field="body", message=detail, type="unstorable_value")])


def domain_problem(exc: DomainError) -> Problem:
    """A domain refusal as the problem it means: its status, detail, field errors and extensions."""
    return Problem(exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=exc.headers,
                   **exc.extensions)


def validation_problem(exc: RequestValidationError | ValidationError) -> Problem:
    """422 with one entry per field error (for bodies parsed by hand, e.g. after a signature check)."""
    errors = _field_errors(exc)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return Problem(422, detail or "invalid request", errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    log = structlog.get_logger("problems")

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem_response(domain_problem(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
        return problem_response(Problem(exc.status_code, detail, headers=getattr(exc, "headers", None)))

    @app.exception_handler(asyncpg.DataError)
    async def _unstorable(request: Request, exc: asyncpg.DataError) -> JSONResponse:
        problem = unstorable_problem(exc)
        if problem is None:  # a value our own code built wrongly: a bug, not the client's input
            return await _unexpected(request, exc)
        log.info("unstorable_input", path=request.url.path, sqlstate=exc.sqlstate)
        return problem_response(problem)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: log it fully, tell the client nothing about internals.
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return problem_response(Problem(500, "an unexpected error occurred; it has been logged"))


# ---- OpenAPI: what each operation answers when it refuses -------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem", "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message", "type"],
                                              "properties": {"field": {"type": "string"},
                                                             "message": {"type": "string"},
                                                             "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}


def problem_doc(status: int) -> dict[str, Any]:
    return {"description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problems it may answer beyond the ones every route documents
    (422 for a route with input, 401 for a route behind a token, 400 and 413 for a route with a body)."""
    return {status: problem_doc(status) for status in statuses}


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Put the problems every operation may answer into an OpenAPI document: validation errors are
    problem+json (not FastAPI's default schema); a route behind a token may answer 401; one with a body
    400 (not decodable) and 413 (too large)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "x-errors" in operation:  # the operation answers its refusals in a form of its own (Open311's)
                responses.pop("422", None)
            elif _fastapi_validation_doc(responses.get("422")) or (
                    "422" not in responses and (operation.get("parameters") or operation.get("requestBody"))):
                responses["422"] = problem_doc(422)
            if operation.get("security"):
                responses.setdefault("401", problem_doc(401))
            if operation.get("requestBody") and "x-errors" not in operation:
                responses.setdefault("400", problem_doc(400))
                responses.setdefault("413", problem_doc(413))
    return document


def _fastapi_validation_doc(response: dict[str, Any] | None) -> bool:
    """FastAPI's own 422 entry (its HTTPValidationError schema), which our handler never answers with."""
    schema = ((response or {}).get("content", {}).get("application/json") or {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")
