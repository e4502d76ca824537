"""The 红黑榜 score, ranking rules and month arithmetic of DOMAIN.md §6, counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.supervision.domain.errors import InvalidMonth, InvalidQuarter
from services.supervision.domain.statistics import (
    Rate,
    StoredName,
    UnitFigures,
    UnitName,
    add_up,
    freeze_at,
    month_bounds,
    names_seen,
    names_to_store,
    parse_month,
    parse_quarter,
    quarter_label,
    quarter_months,
    red_and_black,
    score_units,
)
from shared.calendar import ZONE, WorkCalendar
from shared.events.routing import Owner

GOOD = ("timely_sign_rate", "on_time_completion_rate", "response_rate", "solved_rate", "satisfaction_rate")


def unit(key: str, good: float = 1.0, bad: float = 0.0, cases: int = 20, points: float = 0.0,
         missing: tuple[str, ...] = ()) -> UnitFigures:
    rates = {m: Rate(round(good * 100), 100) for m in GOOD}
    rates |= {m: Rate(round(bad * 100), 100) for m in ("return_rate", "reopen_rate", "rework_rate")}
    for metric in missing:
        rates[metric] = Rate(0, 0)
    return UnitFigures(key, cases=cases, escalation_points=points, rates=rates)


def test_the_score_follows_the_documented_formula():
    # 100 × (0.10·0.8 + 0.25·0.8 + 0.10·0.8 + 0.30·0.8 + 0.25·0.8) − 10 × (0.1 + 0.1 + 0.1) − 1.5 = 80 − 3 − 1.5
    [ranked] = score_units([unit("a", good=0.8, bad=0.1, points=1.5)])
    assert ranked.score == pytest.approx(75.5)


def test_escalation_points_are_capped_at_twenty():
    [ranked] = score_units([unit("a", points=35)])
    assert ranked.score == pytest.approx(80.0)


def test_a_missing_rate_takes_the_level_mean():
    ranked = {r.figures.key: r for r in score_units([
        unit("full", good=0.6), unit("other", good=1.0), unit("no-visits", good=1.0, missing=("solved_rate",))])}
    # the mean of solved_rate over units that have it: (0.6 + 1.0) / 2 = 0.8 → 0.30 × 0.2 × 100 = 6 points lost
    assert ranked["no-visits"].score == pytest.approx(94.0)


def test_a_rate_no_unit_has_drops_out_and_the_weights_are_rescaled():
    units = [unit("a", good=0.5, missing=("response_rate",)), unit("b", good=1.0, missing=("response_rate",))]
    scores = {r.figures.key: r.score for r in score_units(units)}
    assert scores == {"a": pytest.approx(50.0), "b": pytest.approx(100.0)}


def test_ranking_ties_go_to_fewer_points_then_more_cases_and_small_units_are_listed_unranked():
    ranked = score_units([unit("forty", cases=40), unit("twenty", cases=20), unit("fifty", cases=50),
                          unit("small", cases=9), unit("worse", good=0.5)])
    assert [(r.figures.key, r.rank) for r in ranked] == [
        ("fifty", 1), ("forty", 2), ("twenty", 3), ("worse", 4), ("small", None)]
    # both capped at 20 points, so the same score: fewer points first, whatever the case count
    capped = score_units([unit("thirty-points", points=30, cases=90), unit("twenty-five", points=25, cases=10)])
    assert [r.figures.key for r in capped] == ["twenty-five", "thirty-points"]
    assert capped[0].score == capped[1].score


def test_red_and_black_lists_never_share_a_unit():
    ranked = score_units([unit(f"u{n}", good=n / 10) for n in range(7)])
    red, black = red_and_black(ranked)
    assert [r.figures.key for r in red] == ["u6", "u5", "u4", "u3", "u2"]
    assert [r.figures.key for r in black] == ["u0", "u1"]  # worst first
    big = score_units([unit(f"u{n:02}", good=n / 20) for n in range(20)])
    red, black = red_and_black(big)
    assert len(red) == len(black) == 5 and black[0].figures.key == "u00"


def test_month_bounds_are_local_months():
    start, end = month_bounds(date(2026, 12, 1))
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def test_the_freeze_is_the_close_of_the_fifth_working_day_of_the_next_month():
    calendar = WorkCalendar()
    # January 2026's freeze: February 2–6 are working days → Fri 2026-02-06 17:30.
    assert freeze_at(date(2026, 1, 1), calendar) == datetime(2026, 2, 6, 17, 30, tzinfo=ZONE)
    # September 2026: 国庆 1–7 October are holidays, Sat 10-10 is a make-up working day.
    # 10-8 Thu, 10-9 Fri, 10-10 Sat (调休), 10-12 Mon, 10-13 Tue → the 13th.
    assert freeze_at(date(2026, 9, 1), calendar) == datetime(2026, 10, 13, 17, 30, tzinfo=ZONE)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "", "2026/11", "abcd-ef", "0000-01", "9999-12"])
def test_a_malformed_month_is_refused(text):
    with pytest.raises(InvalidMonth, match="YYYY-MM|years") as refused:
        parse_month(text)
    assert refused.value.errors == [{"field": "query.month", "message": refused.value.detail, "type": "month"}]


def test_a_unit_with_no_measured_rate_is_listed_unscored_and_unranked():
    """DOMAIN.md §6 (a zero denominator gives null; a null rate takes the level's mean): a unit whose every
    denominator is 0 would be scored on the means alone; it is listed last, score null, no rank, and does not
    move the means of the others."""
    empty = UnitFigures("quiet", cases=12, rates={m: Rate(0, 0) for m in (*GOOD, "return_rate")})
    ranked = score_units([unit("a", good=0.6), empty, unit("b", good=1.0), UnitFigures("bare", cases=30)])
    assert [(r.figures.key, r.rank, r.score) for r in ranked] == [
        ("b", 1, pytest.approx(100.0)), ("a", 2, pytest.approx(60.0)), ("bare", None, None), ("quiet", None, None)]
    red, black = red_and_black(ranked)
    assert [r.figures.key for r in red] == ["b", "a"] and black == []


def test_a_quarter_adds_up_its_months_numerators_and_denominators():
    """DOMAIN.md §6 (seed 002 ranked quarterly): the quarter's rate is the sum of its months' numerators over
    the sum of their denominators, not a mean of monthly rates; cases and 督办 points add up too."""
    october = [UnitFigures("s1", "一街道", 4, 1.0, {"solved_rate": Rate(1, 1), "return_rate": Rate(0, 4)})]
    november = [UnitFigures("s1", None, 6, 0.5, {"solved_rate": Rate(1, 9)}), UnitFigures("s2", "二街道", 1)]
    s1, s2 = add_up([october, november])
    assert (s1.key, s1.name, s1.cases, s1.escalation_points) == ("s1", "一街道", 10, 1.5)
    assert s1.rates == {"solved_rate": Rate(2, 10), "return_rate": Rate(0, 4)}  # 20 %, not (100 % + 11 %) / 2
    assert (s2.key, s2.name, s2.cases) == ("s2", "二街道", 1)


def test_quarters_parse_to_their_first_month():
    assert parse_quarter("2026-Q4") == date(2026, 10, 1) and parse_quarter("2027-Q1") == date(2027, 1, 1)
    assert quarter_months(date(2026, 10, 1)) == [date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)]
    assert quarter_label(date(2026, 7, 1)) == "2026-Q3"
    for text in ("2026-Q5", "2026-4", "26-Q1", "2026-Q", "0000-Q1", "9999-Q4"):
        with pytest.raises(InvalidQuarter, match="YYYY-Qn|years") as refused:
            parse_quarter(text)
        assert refused.value.errors == [{"field": "query.quarter", "message": refused.value.detail,
                                         "type": "quarter"}]


def test_names_come_from_owners_and_co_owners_at_their_own_level():
    """DOMAIN.md §6 (红黑榜 names units): assignment events carry codes; a territorial owner or co-owner is the
    unit of the case's area at its level, so it names that code; a department names only its id."""
    areas = {"grid_code": "320508001001001", "community_code": "320508001001", "street_code": "320508001",
             "district_code": "320508"}
    owner = Owner(unit_id="dept-water", unit_name="区水务局", unit_kind="department")
    co = Owner(unit_id="s-1", unit_name="平江街道", unit_kind="street")
    assert {(n.kind, n.key): n.name for n in names_seen(owner, [co], areas)} == {
        ("unit", "dept-water"): "区水务局", ("unit", "s-1"): "平江街道", ("street", "320508001"): "平江街道"}


def test_names_to_store_folds_a_runs_names_as_the_store_takes_them_one_by_one():
    """A new key takes its first name; a stored one changes only to a different name seen no earlier; the same name
    again changes nothing (not even when it was seen); each key once, with its last value."""
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    stored = {("unit", "u1"): StoredName("旧名", t0), ("unit", "u2"): StoredName("新名", t0 + timedelta(days=1))}
    told = [(UnitName("unit", "u1", "新名一"), t0 + timedelta(hours=1)),
            (UnitName("unit", "u2", "旧名二"), t0),                          # older than what is stored: stays
            (UnitName("district", "320508", "姑苏区"), t0 + timedelta(hours=2)),
            (UnitName("district", "320508", "姑苏区"), t0 + timedelta(hours=3)),  # the same name: its time stays
            (UnitName("unit", "u1", "新名二"), t0 + timedelta(hours=4)),
            (UnitName("unit", "u1", "新名三"), t0 + timedelta(hours=3))]      # earlier than the rename before it
    assert names_to_store(stored, told) == {
        ("unit", "u1"): StoredName("新名二", t0 + timedelta(hours=4)),
        ("district", "320508"): StoredName("姑苏区", t0 + timedelta(hours=2))}
