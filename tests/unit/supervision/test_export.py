"""The 红黑榜 and the statistics as files (issue 16): XLSX read back with openpyxl (Chinese headers, numbers as
numbers, rates as percentages, no rate an empty cell) and CSV (a BOM, rates in per cent)."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl

from services.supervision.domain.statistics import METRICS
from services.supervision.entrypoints.export import (
    XLSX_MEDIA_TYPE,
    file_response,
    rankings_table,
    stats_table,
    to_csv,
    to_xlsx,
    wanted_format,
)

PERIOD = {"month": "2026-11", "quarter": None, "as_of": "2026-11-20T08:00:00+00:00", "frozen": False,
          "freeze_at": "2026-12-07T09:30:00+00:00"}


def metrics(**given: tuple[int, int]) -> dict[str, Any]:
    out = {}
    for metric in METRICS:
        numerator, denominator = given.get(metric, (0, 0))
        out[metric] = {"numerator": numerator, "denominator": denominator,
                       "rate": round(numerator / denominator, 4) if denominator else None}
    return out


def unit(key: str, name: str | None, rank: int | None, score: float | None, cases: int, **rates) -> dict[str, Any]:
    return {"rank": rank, "score": score, "key": key, "name": name, "cases": cases, "escalation_points": 1.5,
            "metrics": metrics(**rates)}


RANKINGS = {**PERIOD, "level": "street", "score": "100 × (…)",
            "units": [unit("320508019", "平江街道", 1, 91.25, 24, timely_sign_rate=(6, 7), satisfaction_rate=(9, 10)),
                      unit("320508014", "虎丘街道", 2, 55.5, 12, return_rate=(3, 12)),
                      unit("320508020", None, None, None, 3)],
            "red_list": ["320508019"], "black_list": ["320508014"]}


def read_back(content: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(content))


def test_the_red_and_black_list_as_xlsx_has_chinese_headers_numbers_and_percentages():
    book = read_back(to_xlsx(rankings_table(RANKINGS)))
    assert book.sheetnames == ["2026-11 街道红黑榜", "说明"]
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:7] == ("名次", "榜单", "单位代码", "单位名称", "得分", "案件数", "督办扣分")
    for name in ("及时签收率", "按期办结率", "满意率", "回退率"):
        assert name in header and f"{name}分子" in header and f"{name}分母" in header
    first, second, unranked = rows[1:]
    assert first[:7] == (1, "红榜", "320508019", "平江街道", 91.25, 24, 1.5)
    assert second[1] == "黑榜" and unranked[0] is None and unranked[1] is None and unranked[4] is None
    sign = header.index("及时签收率")
    assert first[sign] == 0.8571 and first[sign + 1:sign + 3] == (6, 7)
    assert isinstance(first[sign + 1], int | float) and isinstance(first[5], int | float)
    assert sheet.cell(row=2, column=sign + 1).number_format == "0.00%"
    assert second[header.index("回退率")] == 0.25
    assert first[header.index("按期办结率")] is None  # no denominator: an empty cell, never 0
    assert sheet.freeze_panes == "A2"
    about = dict(book["说明"].iter_rows(values_only=True))
    assert about["统计周期"] == "2026-11" and about["层级"] == "街道" and about["是否已冻结"].startswith("否")
    assert about["回退率"].startswith("分子：")


def test_the_statistics_as_xlsx_and_csv():
    stats = {**PERIOD, "group_by": "community", "definitions": {},
             "rows": [{k: v for k, v in unit("320508019044", "梅花社区", None, None, 15,
                                             return_rate=(1, 15)).items() if k not in ("rank", "score")}]}
    table = stats_table(stats)
    sheet = read_back(to_xlsx(table)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("单位代码", "单位名称", "案件数", "督办扣分")
    assert rows[1][:4] == ("320508019044", "梅花社区", 15, 1.5)

    content = to_csv(table)
    assert content.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert parsed[0][:4] == ["单位代码", "单位名称", "案件数", "督办扣分"]
    rate = parsed[0].index("回退率（%）")
    assert parsed[1][rate] == "6.67" and parsed[1][rate + 1:rate + 3] == ["1", "15"]
    assert parsed[1][parsed[0].index("满意率（%）")] == ""


def test_an_empty_list_is_still_a_valid_file_and_the_download_is_named():
    empty = {**RANKINGS, "quarter": "2026-Q4", "month": None, "months": ["2026-10", "2026-11"], "units": [],
             "red_list": [], "black_list": []}
    book = read_back(to_xlsx(rankings_table(empty)))
    assert [r for r in book.worksheets[0].iter_rows(values_only=True)][1:] == []
    assert dict(book["说明"].iter_rows(values_only=True))["所含月份"] == "2026-10、2026-11"
    response = file_response(rankings_table(empty), "xlsx")
    assert response.media_type == XLSX_MEDIA_TYPE
    disposition = response.headers["content-disposition"]
    assert 'filename="rankings-2026-Q4-street.xlsx"' in disposition and "filename*=UTF-8''" in disposition


def test_the_format_is_the_parameter_else_the_accept_header():
    assert wanted_format("xlsx", "text/csv") == "xlsx"
    assert wanted_format(None, "text/csv;q=0.9, application/json") == "csv"
    assert wanted_format(None, XLSX_MEDIA_TYPE) == "xlsx"
    assert wanted_format(None, "application/json") is None and wanted_format(None, None) is None
