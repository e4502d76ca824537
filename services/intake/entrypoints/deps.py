"""What intake's routes depend on (FastAPI `Depends` at the edge only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.intake.bootstrap import IntakeContainer
from shared.web import container_of

IntakeApp = Annotated[IntakeContainer, Depends(container_of)]
