"""Intake's domain errors as problem responses (DESIGN.md §5)."""

from __future__ import annotations

from services.intake.domain.hotline import InvalidMapping
from services.intake.domain.model import IllegalTransition, InvalidRequest, NotPermitted
from services.intake.service_layer import handlers
from shared.problems import Problem


def domain_problem(exc: Exception) -> Problem:
    if isinstance(exc, IllegalTransition):
        return Problem(409, str(exc), title="Illegal lifecycle move", current_status=exc.status.value,
                       allowed_actions=exc.allowed)
    if isinstance(exc, NotPermitted):
        return Problem(403, str(exc))
    if isinstance(exc, InvalidMapping):
        return Problem(422, str(exc), errors=[
            {"field": f"rules.{p.row}.{p.field}", "message": p.message, "type": "rule"} for p in exc.problems])
    if isinstance(exc, InvalidRequest):
        return Problem(422, str(exc), errors=[{"field": "body", "message": str(exc), "type": "rule"}])
    if isinstance(exc, handlers.IncidentNotFound):
        return Problem(404, str(exc))
    if isinstance(exc, handlers.IdempotencyConflict):
        return Problem(409, str(exc), title="Idempotency-Key reused with a different body")
    raise exc
