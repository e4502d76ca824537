"""12345 work orders (DOMAIN.md §7): category mapping, urgency, coordinates. Pure."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from services.intake.domain.coordinates import bd09_to_wgs84, gcj02_to_wgs84
from services.intake.domain.errors import InvalidMapping, MappingProblem
from shared.events.intake import NATURE_NAMES

TRIAGE = "triage.unknown"
URGENCY_ORDER = ("normal", "urgent", "emergency")
HOTLINE_URGENCY = {"一般": "normal", "紧急": "urgent", "特急": "emergency",
                   "normal": "normal", "urgent": "urgent", "emergency": "emergency"}
CoordSys = Literal["wgs84", "gcj02", "bd09"]
# 事项性质 (DOMAIN §7): 12345 sends it in Chinese; we keep one English word for each.
NATURES = NATURE_NAMES
Nature = Literal["consultation", "request", "complaint", "report", "suggestion", "praise",
                 "咨询", "求助", "投诉", "举报", "建议", "表扬"]


@dataclass(frozen=True)
class MappingRule:
    kind: Literal["code", "name", "prefix", "keyword"]
    value: str
    category: str


@dataclass(frozen=True)
class MappedCategory:
    category: str
    how: str  # which rule matched: code, name, prefix, keyword or triage


def map_category(raw: str, rules: list[MappingRule], context: str = "") -> MappedCategory:
    """exact code → exact name → longest parent-code prefix → keyword, the longest first (in the category,
    then in the order's title and content) → triage.unknown. Never a rejection."""
    text = raw.strip()
    for kind in ("code", "name"):
        for rule in rules:
            if rule.kind == kind and rule.value == text:
                return MappedCategory(rule.category, kind)
    prefixes = sorted((r for r in rules if r.kind == "prefix" and text.startswith(r.value)),
                      key=lambda r: len(r.value), reverse=True)
    if prefixes:
        return MappedCategory(prefixes[0].category, "prefix")
    # The more specific keyword wins (施工噪声 before 噪声), whatever order the rules were loaded in.
    keywords = sorted((r for r in rules if r.kind == "keyword"), key=lambda r: (-len(r.value), r.value))
    for haystack in (text, context):
        for rule in keywords:
            if rule.value in haystack:
                return MappedCategory(rule.category, "keyword")
    return MappedCategory(TRIAGE, "triage")


def check_mapping(rules: list[MappingRule], categories: Collection[str]) -> None:
    """Raise InvalidMapping naming every bad row: an unknown category of ours, a (kind, value) given twice."""
    problems = []
    first_row: dict[tuple[str, str], int] = {}
    for row, rule in enumerate(rules):
        if rule.category not in categories:
            problems.append(MappingProblem(row, "category", f"unknown category {rule.category!r}"))
        earlier = first_row.setdefault((rule.kind, rule.value), row)
        if earlier != row:
            problems.append(MappingProblem(row, "value", f"{rule.kind} {rule.value!r} is mapped in row {earlier} too"))
    if problems:
        raise InvalidMapping(problems)


def higher_urgency(a: str, b: str) -> str:
    return max(a, b, key=URGENCY_ORDER.index)


def to_wgs84(lon: float, lat: float, coord_sys: CoordSys) -> tuple[float, float]:
    """Chinese map SDKs send GCJ-02 (高德, 腾讯) or BD-09 (百度); the registry is WGS84."""
    if coord_sys == "gcj02":
        lon, lat = gcj02_to_wgs84(lon, lat)
    elif coord_sys == "bd09":
        lon, lat = bd09_to_wgs84(lon, lat)
    return round(lon, 7), round(lat, 7)
