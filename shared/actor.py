"""Who acts, and the one area rule every service checks (DESIGN.md §5). Pure.

An area is a tuple of grid-code prefixes: a code lies in it when it starts with one of them; "" is the whole city.
A case not yet placed (no code) belongs to city-wide callers only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def covers(area: Iterable[str], code: str | None) -> bool:
    """Whether `area` holds `code`."""
    prefixes = tuple(area)
    return "" in prefixes or (code is not None and any(code.startswith(prefix) for prefix in prefixes))


@dataclass(frozen=True)
class Actor:
    """Who acts: the token's subject, role, area and unit (None for the system and for callers of no unit)."""

    sub: str
    role: str
    area: tuple[str, ...] = ()
    unit: str | None = None

    def sees(self, code: str | None) -> bool:
        """A code inside the caller's area."""
        return covers(self.area, code)

    def covers(self, unit_area: Iterable[str]) -> bool:
        """A unit works inside the caller's area: every code of the unit's area lies in it (a department
        covering a whole district answers to that district's callers; a city-wide unit only to the city's)."""
        codes = tuple(unit_area)
        return "" in self.area or (bool(codes) and all(self.sees(code) for code in codes))

    def has_role(self, *roles: str) -> bool:
        return self.role in roles
