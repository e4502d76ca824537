"""The near-duplicate lookup's statuses, its index's predicate and the domain's open states are one list: the
planner uses the partial index (intake migration 0016) only while the query's list implies the index's, and a case
in an open state left out of both would never be found as a master."""

import re
from pathlib import Path

from services.intake.adapters.repository import QUERIES
from services.intake.domain.model import OPEN_STATES

MIGRATION = Path(__file__).parents[3] / "services" / "intake" / "migrations" / "0016_duplicate_lookup_open_cases.sql"


def statuses(sql: str) -> set[str]:
    lists = re.findall(r"status IN \(([^)]*)\)", sql)
    assert len(lists) == 1, lists
    return set(re.findall(r"'([a-z_]+)'", lists[0]))


def test_the_lookup_the_index_and_the_open_states_name_the_same_statuses():
    open_states = {s.value for s in OPEN_STATES}
    assert statuses(QUERIES.duplicate_candidates) == open_states
    assert statuses(MIGRATION.read_text(encoding="utf-8")) == open_states
