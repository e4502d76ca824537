"""Who is told at each 督办 level (DOMAIN.md §5), from the contacts directory. Pure.

Territorial units are keyed by their code (city 4, district 6, street 9, community 12, grid 15 digits), so
the chain above a unit is its code's shorter prefixes; a department is keyed by its unit id and answers to
the district of the case's grid. The city (市) is keyed by the first 4 digits of its codes (3205): its
leader hears of 领导督办 beside the district's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.actor import covers

CODE_DIGITS = {"city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}
CITY_DIGITS = CODE_DIGITS["city"]
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


def territorial_code(unit_id: str | None) -> str | None:
    """The code in a territorial unit's id (`street-320508019` → 320508019), if it has one of its level's
    length; None for departments and anything else."""
    kind, _, code = (unit_id or "").partition("-")
    digits = CODE_DIGITS.get(kind)
    return code if digits is not None and code.isdigit() and len(code) == digits else None


def owner_unit_key(unit_kind: str | None, unit_id: str | None, grid_code: str | None) -> str | None:
    """The directory key of a unit that owns (or co-owns) a case: a territorial unit's code, from its id
    when the id carries it, else the case's grid code cut to the unit's level; the unit id for departments
    (and for anything routing may add later)."""
    code = territorial_code(unit_id)
    if code is not None and (unit_kind is None or CODE_DIGITS.get(unit_kind) == len(code)):
        return code
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
    if unit_key.isdigit() and len(unit_key) >= 6:
        return unit_key[:6]
    return grid_code[:6] if grid_code and len(grid_code) >= 6 else None


def city_key(unit_key: str, grid_code: str | None) -> str | None:
    """The city's directory key: the first 4 digits of the unit's code, else of the case's grid code."""
    if unit_key.isdigit() and len(unit_key) >= CITY_DIGITS:
        return unit_key[:CITY_DIGITS]
    return grid_code[:CITY_DIGITS] if grid_code and len(grid_code) >= 6 else None


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
    """Contacts told of a 督办 at `level` (DOMAIN.md §5's ladder): yellow card the owning unit's head; red card
    also its 分管领导 and the supervisor of the nearest unit above that has one; leader also the leaders of the
    district and of the city (`leader` of district or city)."""
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
        city = city_key(unit_key, grid_code)
        if city:
            wanted.append((city, "leader"))
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
    top = [key for key in (district_key(unit_key, grid_code), city_key(unit_key, grid_code)) if key]
    return list(dict.fromkeys([*keys, *top]))
