import pytest

from services.intake.domain.hotline import InvalidMapping, MappingRule, check_mapping, higher_urgency, map_category

RULES = [MappingRule("code", "0301", "city.garbage"), MappingRule("name", "违法建设", "city.illegal_building"),
         MappingRule("prefix", "05", "dispute.wages"), MappingRule("prefix", "0502", "dispute.property"),
         MappingRule("keyword", "噪声", "env.noise")]


def test_mapping_order_code_name_longest_prefix_keyword_then_triage():
    assert map_category("0301", RULES).how == "code"
    assert map_category(" 违法建设 ", RULES).category == "city.illegal_building"
    assert map_category("050201", RULES).category == "dispute.property"  # longest prefix wins
    assert map_category("0599", RULES).category == "dispute.wages"
    assert map_category("施工噪声", RULES).how == "keyword"
    assert map_category("其他", RULES, context="深夜噪声很大").category == "env.noise"
    assert map_category("其他", RULES, context="无关").category == "triage.unknown"


def test_higher_urgency():
    assert higher_urgency("normal", "urgent") == "urgent"
    assert higher_urgency("emergency", "urgent") == "emergency"


def test_the_longest_keyword_wins_whatever_the_order_of_the_rules():
    rules = [MappingRule("keyword", "噪声", "env.noise"), MappingRule("keyword", "施工噪声", "city.illegal_building")]
    assert map_category("夜间施工噪声", rules).category == "city.illegal_building"
    assert map_category("夜间施工噪声", rules[::-1]).category == "city.illegal_building"


def test_a_mapping_to_load_names_each_unknown_category_and_each_repeated_code():
    rules = [MappingRule("code", "0301", "city.garbage"), MappingRule("name", "噪声", "env.noisy"),
             MappingRule("code", "0301", "env.noise"), MappingRule("keyword", "井盖", "infra.manhole")]
    with pytest.raises(InvalidMapping) as exc:
        check_mapping(rules, {"city.garbage", "env.noise", "infra.manhole"})
    assert [(p.row, p.field) for p in exc.value.problems] == [(1, "category"), (2, "value")]
    assert "rules[1].category: unknown category 'env.noisy'" in str(exc.value)
    assert "mapped in row 0 too" in exc.value.problems[1].message
    check_mapping(rules[:1] + rules[3:], {"city.garbage", "infra.manhole"})  # a good one passes
