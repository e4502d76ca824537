"""Who is told at each 督办 level (DOMAIN.md §5), from the contacts directory. Pure.

Territorial units are keyed by their code (district 6, street 9, community 12, grid 15 digits), so the
chain above a unit is its code's shorter prefixes; a department is keyed by its unit id and answers to
the district of the case's grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from services.notifications.domain.areas import covers

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


Role = Literal["liaison", "leader", "supervisor"]


@dataclass(frozen=True)
class UnitContact:
    """Who answers for a unit: its liaison desk (takes the unit's case SMS), its head (单位负责人, told from
    黄牌督办 on) and its 分管领导/督办 officer (told from 红牌督办 on, also for the units below it)."""

    unit_code: str
    name: str
    liaison: Person | None = None
    leader: Person | None = None
    supervisor: Person | None = None

    def lies_within(self, area: tuple[str, ...]) -> bool:
        """A territorial unit inside the area; a department (not a code) only for a city-wide one."""
        return covers(area, self.unit_code)

    def reachable(self, role: Role) -> Person | None:
        """The person in that post, if there is one with a phone or an email."""
        person = {"liaison": self.liaison, "leader": self.leader, "supervisor": self.supervisor}[role]
        return person if person is not None and (person.phone or person.email) else None


Directory = Mapping[str, UnitContact]  # contacts by unit code


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


def _person(contact: UnitContact | None, role: Role) -> Person | None:
    return contact.reachable(role) if contact is not None else None


def unit_desk(unit_key: str, contacts: Directory) -> Recipient | None:
    """Who takes a unit's SMS when the owner is the unit itself (no grid worker): its liaison, else its head."""
    roles: tuple[Role, ...] = ("liaison", "leader")
    for role in roles:
        if person := _person(contacts.get(unit_key), role):
            return Recipient(f"contact:{unit_key}:{role}", person)
    return None


def escalation_recipients(level: str, unit_key: str | None, grid_code: str | None,
                          contacts: Directory) -> list[Recipient]:
    """Contacts told of a 督办 at `level`: yellow card the owning unit's head; red card also its 分管领导
    and the supervisor of the nearest unit above that has one; leader also the district's leader."""
    if unit_key is None or level not in LEVEL_ORDER:
        return []
    rank = LEVEL_ORDER.index(level)
    wanted: list[tuple[str, Role]] = []
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
