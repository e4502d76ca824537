"""Areas are lists of grid-code prefixes ('' = the whole city); a code lies in one it starts with. Pure."""

from __future__ import annotations

from collections.abc import Iterable


def covers(area: Iterable[str], code: str | None) -> bool:
    """Whether `area` holds `code` (the rule of shared/auth.py's `Principal.sees`)."""
    prefixes = tuple(area)
    return "" in prefixes or (code is not None and any(code.startswith(prefix) for prefix in prefixes))
