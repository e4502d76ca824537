"""Named SQL: one `queries.sql` per service, blocks introduced by `-- name: <query_name>`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Queries:
    def __init__(self, sql_by_name: dict[str, str]) -> None:
        self._sql = sql_by_name

    @classmethod
    def load(cls, path: Path | str) -> Queries:
        text = Path(path).read_text(encoding="utf-8")
        parts = _NAME.split(text)
        sql: dict[str, str] = {}
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in sql:
                raise ValueError(f"{path}: query {name!r} defined twice")
            sql[name] = body.strip().rstrip(";")
        return cls(sql)

    def __getattr__(self, name: str) -> str:
        try:
            return self._sql[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._sql)


def array_columns(rows: Iterable[Sequence[Any]], width: int | None = None) -> list[list[Any]]:
    """Rows as one list per column: the array parameters of an `unnest` statement. `width` (the number of columns)
    is needed only when there may be no rows: then it gives that many empty lists."""
    rows = list(rows)
    if width is None:
        width = len(rows[0]) if rows else 0
    return [[row[k] for row in rows] for k in range(width)]
