"""Who is told at each 督办 level (DOMAIN.md §5), from the contacts directory. Pure.

Territorial units are keyed by their code (district 6, street 9, community 12, grid 15 digits), so the
chain above a unit is its code's shorter prefixes; a department is keyed by its unit id and answers to
the district of the case's grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CODE_DIGITS = {"district": 6, "street": 9, "community": 12, "grid": 15}
# The ladder, cumulative: each level tells its own people and everyone of the levels below again.
LEVEL_ORDER = ("reminder", "yellow_card", "red_card", "leader")


@dataclass(frozen=True)
class Person:
    name: str
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Recipient:
    """One person to tell, under a stable key (one delivery per event, key and channel)."""

    key: str
    person: Person


def owner_unit_key(unit_kind: str | None, unit_id: str | None, grid_code: str | None) -> str | None:
    """The directory key of the unit that owns a case: the case's grid code cut to the unit's level for
    territorial units, the unit id for departments (and for anything routing may add later)."""
    digits = CODE_DIGITS.get(unit_kind or "")
    if digits is not None and grid_code and len(grid_code) >= digits:
        return grid_code[:digits]
    return unit_id


def keys_above(unit_key: str, grid_code: str | None) -> list[str]:
    """The units above, nearest first: street over community over grid; the district over a department."""
    if unit_key.isdigit():
        return [unit_key[:n] for n in (12, 9, 6) if n < len(unit_key)]
    return [grid_code[:6]] if grid_code and len(grid_code) >= 6 else []


def district_key(unit_key: str, grid_code: str | None) -> str | None:
    if unit_key.isdigit():
        return unit_key[:6]
    return grid_code[:6] if grid_code and len(grid_code) >= 6 else None


def _person(contact: Mapping[str, Any] | None, role: str) -> Person | None:
    found = (contact or {}).get(role)
    if not found or not (found.get("phone") or found.get("email")):
        return None
    return Person(found["name"], found.get("phone"), found.get("email"))


def unit_desk(unit_key: str, contacts: Mapping[str, Mapping[str, Any]]) -> Recipient | None:
    """Who takes a unit's SMS when the owner is the unit itself (no grid worker): its liaison, else its head."""
    for role in ("liaison", "leader"):
        if person := _person(contacts.get(unit_key), role):
            return Recipient(f"contact:{unit_key}:{role}", person)
    return None


def escalation_recipients(level: str, unit_key: str | None, grid_code: str | None,
                          contacts: Mapping[str, Mapping[str, Any]]) -> list[Recipient]:
    """Contacts told of a 督办 at `level`: yellow card the owning unit's head; red card also its 分管领导
    and the supervisor of the nearest unit above that has one; leader also the district's leader."""
    if unit_key is None or level not in LEVEL_ORDER:
        return []
    rank = LEVEL_ORDER.index(level)
    wanted: list[tuple[str, str]] = []
    if rank >= LEVEL_ORDER.index("yellow_card"):
        wanted.append((unit_key, "leader"))
    if rank >= LEVEL_ORDER.index("red_card"):
        wanted.append((unit_key, "supervisor"))
        above = next((key for key in keys_above(unit_key, grid_code) if _person(contacts.get(key), "supervisor")),
                     None)
        if above:
            wanted.append((above, "supervisor"))
    if rank >= LEVEL_ORDER.index("leader"):
        district = district_key(unit_key, grid_code)
        if district:
            wanted.append((district, "leader"))
    recipients: list[Recipient] = []
    seen: set[tuple[str | None, str | None]] = set()
    for key, role in wanted:
        person = _person(contacts.get(key), role)
        if person and (person.phone, person.email) not in seen:  # one person holding two posts hears once
            seen.add((person.phone, person.email))
            recipients.append(Recipient(f"contact:{key}:{role}", person))
    return recipients


def contact_keys_for(unit_key: str | None, grid_code: str | None) -> list[str]:
    """Every directory entry the rules above may read for a case (fetched in one query)."""
    if unit_key is None:
        return []
    keys = [unit_key, *keys_above(unit_key, grid_code)]
    district = district_key(unit_key, grid_code)
    return list(dict.fromkeys([*keys, *([district] if district else [])]))
