"""The statistics and the 红黑榜 as files (issue 16): what GET /v1/stats and GET /v1/rankings answer in JSON, as a
CSV or an XLSX table with Chinese headers for the centre's spreadsheets. Translation at the edge, nothing decided:
the rows are the JSON views' rows, in their order.

XLSX (xlsxwriter): counts are numbers, rates are numbers formatted as percentages (0.8571 shown 85.71%), a rate
with no denominator an empty cell; a second sheet says what the figures are (period, freeze, each rate's
numerator). CSV: UTF-8 with a BOM (so spreadsheet programs read the Chinese), rates in per cent (85.71) under a
header that says so."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import xlsxwriter
from starlette.responses import Response

from services.supervision.domain.statistics import METRICS

ExportFormat = Literal["csv", "xlsx"]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
MEDIA_TYPES: dict[str, ExportFormat] = {"text/csv": "csv", XLSX_MEDIA_TYPE: "xlsx"}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {
    "application/json": {}, "text/csv": {"schema": {"type": "string"}},
    XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    "description": "JSON; or, with format=csv|xlsx (or Accept: text/csv or the XLSX type), the table as a file"}}

LEVEL_NAMES = {"grid": "网格", "community": "社区", "street": "街道", "district": "区", "department": "部门",
               "unit": "单位"}

Kind = Literal["text", "integer", "number", "rate"]


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind
    width: float = 12


@dataclass(frozen=True)
class Table:
    """A sheet: its columns, its rows (one value per column; None is an empty cell), and what it is."""

    title: str
    columns: tuple[Column, ...]
    rows: list[list[Any]]
    about: list[tuple[str, str]]
    filename: str  # without the extension
    ascii_name: str  # the same, for clients that cannot read RFC 6266's filename*


def wanted_format(given: str | None, accept: str | None) -> ExportFormat | None:
    """The file asked for: `format=` first, else an Accept header naming CSV or XLSX (JSON otherwise)."""
    if given in ("csv", "xlsx"):
        return given  # type: ignore[return-value]
    for part in (accept or "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in MEDIA_TYPES:
            return MEDIA_TYPES[media]
    return None


def _metric_columns() -> list[Column]:
    columns = []
    for name, _what in METRICS.values():
        columns += [Column(name, "rate", 11), Column(f"{name}分子", "integer", 9), Column(f"{name}分母", "integer", 9)]
    return columns


def _metric_cells(row: Mapping[str, Any]) -> list[Any]:
    cells: list[Any] = []
    for metric in METRICS:
        figures = row["metrics"].get(metric) or {"rate": None, "numerator": 0, "denominator": 0}
        cells += [figures["rate"], figures["numerator"], figures["denominator"]]
    return cells


def _period(body: Mapping[str, Any]) -> str:
    return str(body["month"] or body["quarter"])


def _about(body: Mapping[str, Any], level: str, extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    about = [("统计周期", _period(body)), ("层级", LEVEL_NAMES.get(level, level)),
             ("数据截至", str(body["as_of"])), ("是否已冻结", "是" if body["frozen"] else "否（冻结后数据不再变化）"),
             ("冻结时间", str(body["freeze_at"]))]
    if body.get("months"):
        about.append(("所含月份", "、".join(body["months"])))
    about += list(extra)
    about += [(f"{name}", f"分子：{what}") for name, what in METRICS.values()]
    return about


def stats_table(body: Mapping[str, Any]) -> Table:
    """GET /v1/stats's rows (one per unit of the grouping)."""
    level = str(body["group_by"])
    columns = (Column("单位代码", "text", 22), Column("单位名称", "text", 22), Column("案件数", "integer", 8),
               Column("督办扣分", "number", 9), *_metric_columns())
    rows = [[row["key"], row["name"], row["cases"], row["escalation_points"], *_metric_cells(row)]
            for row in body["rows"]]
    return Table(f"{_period(body)} {LEVEL_NAMES.get(level, level)}统计", columns, rows, _about(body, level),
                 f"统计-{_period(body)}-{LEVEL_NAMES.get(level, level)}", f"stats-{_period(body)}-{level}")


def rankings_table(body: Mapping[str, Any]) -> Table:
    """GET /v1/rankings's units, by rank (红榜 the top, 黑榜 the bottom; fewer than 10 cases: no rank)."""
    level = str(body["level"])
    red, black = set(body["red_list"]), set(body["black_list"])
    columns = (Column("名次", "integer", 6), Column("榜单", "text", 7), Column("单位代码", "text", 22),
               Column("单位名称", "text", 22), Column("得分", "number", 8), Column("案件数", "integer", 8),
               Column("督办扣分", "number", 9), *_metric_columns())
    rows = [[unit["rank"], "红榜" if unit["key"] in red else "黑榜" if unit["key"] in black else None, unit["key"],
             unit["name"], unit["score"], unit["cases"], unit["escalation_points"], *_metric_cells(unit)]
            for unit in body["units"]]
    extra = [("计分", str(body["score"])), ("排名", "案件数不足 10 件的单位列出但不排名；无任何可计比率的单位不计分")]
    return Table(f"{_period(body)} {LEVEL_NAMES.get(level, level)}红黑榜", columns, rows, _about(body, level, extra),
                 f"红黑榜-{_period(body)}-{LEVEL_NAMES.get(level, level)}", f"rankings-{_period(body)}-{level}")


def to_csv(table: Table) -> bytes:
    """UTF-8 with a BOM; rates in per cent, two decimals, under a header saying (%)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{c.header}（%）" if c.kind == "rate" else c.header for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if value is None else round(value * 100, 2) if column.kind == "rate" else value
                         for column, value in zip(table.columns, row, strict=True)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    book.set_properties({"title": table.title, "author": "网格化社会治理 督办服务"})
    header = book.add_format({"bold": True, "text_wrap": True, "valign": "vcenter", "bg_color": "#DDE4EE",
                              "border": 1})
    formats = {"text": book.add_format({}), "integer": book.add_format({"num_format": "0"}),
               "number": book.add_format({"num_format": "0.0#"}), "rate": book.add_format({"num_format": "0.00%"})}
    sheet = book.add_worksheet(table.title[:31])
    for col, column in enumerate(table.columns):
        sheet.write_string(0, col, column.header, header)
        sheet.set_column(col, col, column.width)
    for r, row in enumerate(table.rows, start=1):
        for col, (column, value) in enumerate(zip(table.columns, row, strict=True)):
            if value is None:
                sheet.write_blank(r, col, None, formats[column.kind])
            elif column.kind == "text":
                sheet.write_string(r, col, str(value), formats["text"])
            else:
                sheet.write_number(r, col, float(value), formats[column.kind])
    sheet.freeze_panes(1, 0)
    if table.rows:
        sheet.autofilter(0, 0, len(table.rows), len(table.columns) - 1)
    about = book.add_worksheet("说明")
    about.set_column(0, 0, 14)
    about.set_column(1, 1, 90)
    for r, (name, value) in enumerate(table.about):
        about.write_string(r, 0, name, header)
        about.write_string(r, 1, value)
    book.close()
    return out.getvalue()


def file_response(table: Table, fmt: ExportFormat) -> Response:
    """The table as a download: an ASCII fallback name and the Chinese one (RFC 6266 filename*)."""
    content, media_type = (to_xlsx(table), XLSX_MEDIA_TYPE) if fmt == "xlsx" else (to_csv(table), CSV_MEDIA_TYPE)
    disposition = (f"attachment; filename=\"{table.ascii_name}.{fmt}\"; "
                   f"filename*=UTF-8''{quote(table.filename)}.{fmt}")
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})
