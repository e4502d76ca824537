"""Address → place, by the names the registry knows: district, street, community, grid and dedicated-grid
names (a school, a hospital, a market). Pure: no I/O.

12345 orders and phone reports often carry only an address ("张店区华光社区实验小学东门"). Both the
registry's names and the address are normalised the same way (full-width forms, traditional characters,
punctuation and spaces, Chinese numerals, 第), then every registry name found in the address is a
candidate. The winner is the candidate most consistent with the others (its ancestors also named:
张店区 … 华光社区 …), then the most specific (grid before community before street before district), then
the longest name, so the answer never depends on load order. When equally good candidates disagree, the
address is placed at the deepest level they share, or not at all: a wrong owner costs more than the
command centre's queue.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import opencc

from services.routing.domain.registry import LEVEL_LENGTH

_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
             "九": 9}
_CN_UNIT = {"十": 10, "百": 100, "千": 1000}
_CN_NUMERAL = re.compile(f"[{''.join(_CN_DIGIT)}{''.join(_CN_UNIT)}]+")
_NOT_WORD = re.compile(r"[\W_]+")
_ORDINAL = re.compile(r"第(?=\d)")
# Names people use for a unit beside the registry's own (华光社区 is also 华光居委会).
_ALIASES = (("社区", "居委会"), ("街道", "街办"))
MIN_NAME_CHARS = 2
MAX_ADDRESS_CHARS = 500
# Traditional → simplified (OpenCC's phrase-aware table): a report typed in 繁體 (a phone set to Hong Kong or
# Taiwan input) names the same places as the registry's 简体.
_TO_SIMPLIFIED = opencc.OpenCC("t2s.json")


def normalise(text: str) -> str:
    """The form both sides are compared in: NFKC (全角 → ASCII), simplified characters, lower case, no spaces
    or punctuation, Chinese numerals as digits (第三网格 = 第3网格 = 3网格)."""
    text = _TO_SIMPLIFIED.convert(unicodedata.normalize("NFKC", text)).lower()
    text = _NOT_WORD.sub("", text)
    text = _CN_NUMERAL.sub(lambda m: str(_numeral(m.group())), text)
    return _ORDINAL.sub("", text)


def _numeral(chars: str) -> int | str:
    """三 → 3, 十二 → 12, 二十 → 20, 一百零五 → 105, 二〇二六 → 2026; a run that is no number stays as it is."""
    if not any(c in _CN_UNIT for c in chars):
        return int("".join(str(_CN_DIGIT[c]) for c in chars))
    total, digit = 0, None
    for c in chars:
        if c in _CN_DIGIT:
            if digit is not None and _CN_DIGIT[c] != 0:
                return chars  # 三四十: not a numeral
            digit = _CN_DIGIT[c] or None
        else:
            total += (1 if digit is None else digit) * _CN_UNIT[c]
            digit = None
    return total + (digit or 0)


@dataclass(frozen=True)
class Named:
    """One place in the registry that an address can name."""

    code: str
    name: str
    level: str


@dataclass(frozen=True)
class AddressMatch:
    code: str | None          # the place (a grid, community, street or district code), None if none fits
    matched: tuple[str, ...]  # registry names found in the address that support the answer
    note: str                 # what happened, for the decision's reason


class AddressIndex:
    def __init__(self, places: Iterable[Named]) -> None:
        self._by_name: dict[str, list[Named]] = {}
        for place in places:
            if place.level not in LEVEL_LENGTH:
                continue
            for variant in _variants(place.name):
                key = normalise(variant)
                if len(key) >= MIN_NAME_CHARS:
                    self._by_name.setdefault(key, []).append(place)
        for entries in self._by_name.values():
            entries.sort(key=lambda p: p.code)
        self._lengths = sorted({len(k) for k in self._by_name}, reverse=True)

    def __len__(self) -> int:
        return len(self._by_name)

    def match(self, address: str) -> AddressMatch:
        text = normalise(address[:MAX_ADDRESS_CHARS])
        spans = _longest_spans(self._spans(text))
        if not spans:
            return AddressMatch(None, (), "no registry name in the address")
        candidates = [(place, start, end) for start, end, places in spans for place in places]
        scored: list[tuple[tuple[int, int, int], str, tuple[str, ...]]] = []
        for place, start, end in candidates:
            code = _placed_code(place)
            # Other names of the address on this place's chain of ancestors (张店区 … 华光社区 … 实验小学).
            context = [(p, s, e) for p, s, e in candidates if (s, e) != (start, end) and code.startswith(p.code)]
            key = (len({(s, e) for _, s, e in context}), len(code), end - start)
            in_order = sorted([(place, start, end), *context], key=lambda c: c[1])
            scored.append((key, code, tuple(dict.fromkeys(p.name for p, _, _ in in_order))))
        best = max(key for key, _, _ in scored)
        winners = sorted((code, names) for key, code, names in scored if key == best)
        codes = sorted({code for code, _ in winners})
        if len(codes) == 1:
            names = winners[0][1]
            return AddressMatch(codes[0], names, f"matched {'、'.join(names)}")
        contested = tuple(dict.fromkeys(n for _, names in winners for n in names))
        listed = ", ".join(codes[:5]) + (" …" if len(codes) > 5 else "")
        shared = _common_level_code(codes)
        if shared is None:
            return AddressMatch(None, contested, f"ambiguous: {'、'.join(contested)} names places in different "
                                                 f"districts ({listed})")
        return AddressMatch(shared, contested, f"matched {'、'.join(contested)}, ambiguous between {listed}: "
                                               f"placed at their common {_level_of(shared)}")

    def _spans(self, text: str) -> list[tuple[int, int, list[Named]]]:
        found = []
        for start in range(len(text)):
            for length in self._lengths:
                places = self._by_name.get(text[start:start + length])
                if places:
                    found.append((start, start + length, places))
        return found


def _variants(name: str) -> list[str]:
    variants = [name]
    for suffix, alias in _ALIASES:
        if name.endswith(suffix) and len(name) > len(suffix):
            variants.append(name[: -len(suffix)] + alias)
    return variants


def _longest_spans(spans: list[tuple[int, int, list[Named]]]) -> list[tuple[int, int, list[Named]]]:
    """Drop a name found inside a longer one (新华社区 inside 东新华社区, 华光社区 inside 华光社区第3网格)."""
    return [s for s in spans
            if not any(o[0] <= s[0] and s[1] <= o[1] and o[1] - o[0] > s[1] - s[0] for o in spans)]


def _placed_code(place: Named) -> str:
    # A micro grid is worked by its grid's worker: place the case at the grid.
    return place.code[:LEVEL_LENGTH["grid"]] if place.level == "micro" else place.code


def _common_level_code(codes: list[str]) -> str | None:
    """The deepest district/street/community/grid code that every code extends, if any."""
    for length in sorted((n for n in LEVEL_LENGTH.values() if n <= LEVEL_LENGTH["grid"]), reverse=True):
        prefixes = {c[:length] for c in codes if len(c) >= length}
        if len(prefixes) == 1 and all(len(c) >= length for c in codes):
            return prefixes.pop()
    return None


def _level_of(code: str) -> str:
    return next(level for level, n in LEVEL_LENGTH.items() if n == len(code))
