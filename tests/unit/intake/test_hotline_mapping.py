from services.intake.domain.hotline import MappingRule, higher_urgency, map_category

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
