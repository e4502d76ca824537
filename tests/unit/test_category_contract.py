import re
from pathlib import Path

from shared.categories import CATEGORY_CODES

ROOT = Path(__file__).resolve().parents[2]


def test_the_shared_code_list_matches_intakes_catalogue_and_routings_rules():
    catalogue = set(re.findall(r"\('([a-z_.]+)', '", (ROOT / "services/intake/migrations/0002_categories.sql")
                               .read_text()))
    rules = set(re.findall(r"\('([a-z_.]+)', '\*'", (ROOT / "services/routing/migrations/0002_rules.sql").read_text()))
    assert catalogue == set(CATEGORY_CODES) == rules
