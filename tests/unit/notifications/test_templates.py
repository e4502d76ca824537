import re
from datetime import UTC, datetime

import pytest

from services.notifications.domain.errors import TemplateInvalid
from services.notifications.domain.templates import (
    CATEGORY_ZH,
    TEMPLATES,
    assignment_values,
    category_name,
    escalation_values,
    fit_sms,
    light_values,
    render,
    sms_segments,
    validate,
)

DUE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_every_default_is_a_valid_template():
    for name, spec in TEMPLATES.items():
        validate(name, spec.default)


@pytest.mark.parametrize("body, why", [
    ("【网格督办】案件{case}请{owner}处理", "unknown placeholders {owner}"),
    ("【网格督办】{case.__class__}", "not a plain placeholder"),
    ("【网格督办】{case!r}", "not a plain placeholder"),
    ("【网格督办】{due:>20}", "not a plain placeholder"),
    ("【网格督办】{0}", "not a plain placeholder"),
    ("【网格督办】{case", "unbalanced"),
    ("【网格督办】case}", "unbalanced"),
    ("案件{case}即将超时", "signature"),
    ("   ", "needs a text"),
])
def test_a_template_with_anything_but_known_placeholders_is_refused(body, why):
    with pytest.raises(TemplateInvalid, match=why.replace("{", r"\{").replace(".", r"\.")):
        validate("sms.light_yellow", body)


def test_placeholders_differ_by_template_and_email_subjects_need_no_signature():
    validate("sms.escalation", "【网格督办】{level}{note}")
    with pytest.raises(TemplateInvalid):
        validate("sms.light_red", "【网格督办】{level}")  # a light change has no level
    validate("email.escalation_subject", "{level}：案件{case}")
    validate("sms.light_red", "【网格督办】{{紧急}}案件{case}")  # doubled braces are literal


def test_render_fills_the_stored_text_and_falls_back_to_the_default_if_it_went_bad():
    values = escalation_values("0f1e2d3c-aaaa", "city.ads", "handle", "red_card", DUE, "限期整改")
    assert render("sms.escalation", "【督办】{level}{case}{note}", values) == "【督办】红牌督办0f1e2d3c批示：限期整改"
    assert "（乱张贴、违规广告）" in render("sms.escalation", None, values)
    assert render("sms.escalation", None, values).startswith("【网格督办】红牌督办：案件0f1e2d3c")
    broken = "【督办】{nonsense}"  # written around the API
    assert render("sms.escalation", broken, values) == render("sms.escalation", None, values)
    assert escalation_values("x", "c", "sign", "leader", DUE)["note"] == ""


def test_ucs2_sms_fit_70_alone_and_67_per_part():
    assert sms_segments("中" * 70) == ["中" * 70]
    assert sms_segments("中" * 71) == ["中" * 67, "中" * 4]
    assert [len(p) for p in sms_segments("中" * 201)] == [67, 67, 67]
    assert len(sms_segments("中" * 202)) == 4


def test_gsm7_text_fits_160_alone_and_153_per_part_and_emoji_count_twice():
    assert len(sms_segments("a" * 160)) == 1
    assert [len(p) for p in sms_segments("a" * 161)] == [153, 8]
    assert len(sms_segments("a" * 159 + "中")) == 3       # one Chinese character makes it all UCS-2
    parts = sms_segments("😀" * 36)                        # 72 UTF-16 units: a pair is never split
    assert [len(p) for p in parts] == [33, 3]


def test_fit_cuts_deterministically_within_the_segment_limit():
    long = "【网格督办】" + "批示内容" * 100
    cut = fit_sms(long, 3)
    assert len(sms_segments(cut)) == 3 and cut.endswith("…")
    assert len(cut) == 201 and long.startswith(cut[:-1])
    assert fit_sms(long, 3) == cut                        # the same every time
    assert fit_sms("【网格督办】短", 3) == "【网格督办】短"
    assert fit_sms("a" * 500, 2) == "a" * 303 + "..."     # GSM-7 stays GSM-7


def test_a_refused_template_blames_the_body_field_in_the_one_errors_shape():
    with pytest.raises(TemplateInvalid) as refused:
        validate("sms.light_yellow", "案件{case}")
    assert refused.value.status == 422
    assert refused.value.errors == [{"field": "body", "message": refused.value.detail, "type": "template"}]


def test_the_category_names_are_intakes_catalogue():
    """DOMAIN.md §3's table (intake's `GET /v1/categories`, seeded by its migration): one Chinese name per code
    of shared/categories.py, the same words the public sees in Open311's `service_name`."""
    from shared.categories import CATEGORY_CODES
    from tests.support import ROOT

    seeded = dict(re.findall(r"\('([a-z_.]+)', '([^']+)'", (ROOT / "services/intake/migrations/0002_categories.sql")
                             .read_text(encoding="utf-8")))
    assert CATEGORY_ZH == seeded
    assert set(CATEGORY_ZH) == set(CATEGORY_CODES)


def test_every_message_names_the_category_in_chinese_never_by_its_code():
    """Messages are Chinese (DOMAIN.md §3 names): `新案件…（乱张贴、违规广告，特急）`, not `（city.ads，特急）`;
    a code the table lacks is shown as it is rather than dropped."""
    assert render("sms.assigned", None, assignment_values("0f1e2d3c", "city.ads", "emergency", "第7网格")) == (
        "【网格督办】新案件0f1e2d3c（乱张贴、违规广告，特急）已派至第7网格，请及时签收。")
    assert "（暴露垃圾、道路不洁）" in render("sms.light_red", None,
                                          light_values("0f1e2d3c", "city.garbage", "sign", "red", DUE))
    assert render("email.assigned_subject", None, assignment_values("0f1e2d3c", "env.noise", "normal", "x")) == (
        "【网格督办】新案件0f1e2d3c（一般）")
    assert category_name("city.future_thing") == "city.future_thing"
