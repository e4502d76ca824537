"""Grid codes (DOMAIN.md §2): 6 district, 9 street, 12 community, 15 grid, 18 micro grid; strings."""

from __future__ import annotations

LEVEL_LENGTH = {"district": 6, "street": 9, "community": 12, "grid": 15, "micro": 18}
PARENT_LEVEL = {"street": "district", "community": "street", "grid": "community", "micro": "grid"}


def ancestors(code: str) -> dict[str, str]:
    """The codes of every level at or above `code`, keyed by level name."""
    return {level: code[:n] for level, n in LEVEL_LENGTH.items() if len(code) >= n}


def check_code(code: str, level: str, parent_code: str | None) -> str | None:
    """The reason a code is wrong for its level and parent, or None when it is right."""
    if not (code.isascii() and code.isdigit()):
        return f"code {code!r} must be digits only"
    if len(code) != LEVEL_LENGTH[level]:
        return f"a {level} code has {LEVEL_LENGTH[level]} digits, {code!r} has {len(code)}"
    if level == "district":
        return None if parent_code in (None, "") else "a district has no parent"
    if not parent_code:
        return f"a {level} needs parent_code"
    if len(parent_code) != LEVEL_LENGTH[PARENT_LEVEL[level]]:
        return f"the parent of a {level} is a {PARENT_LEVEL[level]} ({LEVEL_LENGTH[PARENT_LEVEL[level]]} digits)"
    if not code.startswith(parent_code):
        return f"code {code!r} does not extend its parent's code {parent_code!r}"
    return None
