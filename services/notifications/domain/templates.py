"""Message texts (Chinese, with the 【签名】 SMS convention): editable templates, their placeholders,
and the SMS length rule. Pure.

Templates are stored in the database (seeded with the defaults below, editable over HTTP); a text is
checked before it is stored, so rendering never meets a placeholder it lacks.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.notifications.domain.errors import TemplateInvalid
from shared.ids import case_reference as case_ref

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The category names people read (DOMAIN.md §3; intake's catalogue, `GET /v1/categories`, holds the same:
# tests/unit/notifications/test_templates.py keeps the two equal). Messages name a case's category in
# Chinese, never by its code.
CATEGORY_ZH = {
    "city.garbage": "暴露垃圾、道路不洁",
    "city.vending": "占道经营、流动摊贩",
    "city.ads": "乱张贴、违规广告",
    "city.illegal_building": "违法建设",
    "city.parking": "车辆乱停放",
    "city.greenery": "绿化损毁",
    "infra.facility": "道路、路灯等设施损坏",
    "infra.manhole": "井盖缺失破损",
    "infra.drainage": "积水、排水不畅",
    "infra.utility": "水电气热供应",
    "safety.fire": "消防隐患 (通道堵塞、飞线充电)",
    "safety.gas": "燃气泄漏隐患",
    "safety.building": "危房",
    "safety.workplace": "安全生产隐患",
    "safety.equipment": "电梯等特种设备",
    "safety.food": "食品药品安全",
    "safety.campus": "校园及周边安全",
    "safety.rental": "出租房屋隐患",
    "order.public": "治安问题 (非警情)",
    "dispute.neighbour": "邻里纠纷",
    "dispute.family": "婚姻家庭纠纷",
    "dispute.property": "物业纠纷",
    "dispute.land": "宅基地、山林土地纠纷",
    "dispute.wages": "劳动争议、欠薪",
    "dispute.demolition": "征地拆迁纠纷",
    "dispute.medical": "医患纠纷",
    "dispute.consumer": "消费纠纷",
    "env.noise": "噪声扰民",
    "env.pollution": "废气、污水、油烟",
    "service.assistance": "困难救助、养老助残",
    "service.errand": "代办服务",
    "service.education": "入学教育",
    "service.transport": "交通出行",
    "info.sentiment": "社情民意",
    "emergency.event": "突发事件",
    "triage.unknown": "待分类",
}
PHASE_ZH = {"sign": "签收", "handle": "办理", "verify": "核查"}
LIGHT_ZH = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
LEVEL_ZH = {"reminder": "催办", "yellow_card": "黄牌督办", "red_card": "红牌督办", "leader": "领导督办"}
MAX_TEMPLATE_CHARS = 1000

LIGHT = frozenset({"case", "category", "phase", "light", "due"})
ESCALATION = frozenset({"case", "category", "phase", "level", "due", "note"})
ASSIGNMENT = frozenset({"case", "category", "urgency", "unit"})
URGE = frozenset({"case", "category", "note"})
CENTRE = frozenset({"case", "category", "urgency", "what", "detail"})
SUSPENSION = frozenset({"case", "category", "decision", "until", "note"})
RESTORED = frozenset({"case", "category", "urgency", "unit", "note"})
URGENCY_ZH = {"normal": "一般", "urgent": "紧急", "emergency": "特急"}


@dataclass(frozen=True)
class TemplateSpec:
    channel: Literal["sms", "email"]
    placeholders: frozenset[str]
    default: str
    description: str


TEMPLATES: dict[str, TemplateSpec] = {
    "sms.assigned": TemplateSpec(
        "sms", ASSIGNMENT, "【网格督办】新案件{case}（{category}，{urgency}）已派至{unit}，请及时签收。",
        "a new case (派遣 or 改派) to its owner: the grid worker, or the owning unit's desk"),
    "sms.light_yellow": TemplateSpec(
        "sms", LIGHT, "【网格督办】案件{case}（{category}）{phase}即将超时亮{light}，请于{due}前处理。",
        "yellow light to the case's handler (also the body of the email when the handler has only email)"),
    "sms.light_red": TemplateSpec(
        "sms", LIGHT, "【网格督办】案件{case}（{category}）{phase}已超时亮红灯，时限{due}已过，请立即处理。",
        "red light to the case's handler"),
    "sms.escalation": TemplateSpec(
        "sms", ESCALATION,
        "【网格督办】{level}：案件{case}（{category}）{phase}时限{due}，请督促责任单位限时办理。{note}",
        "督办 to contacts and subscribers; {note} is 批示：… when the 督办 carries one, else empty"),
    "sms.reassigned_away": TemplateSpec(
        "sms", ASSIGNMENT, "【网格督办】案件{case}（{category}）已改派至{unit}，你方不再办理，请停止处置并做好交接。",
        "改派: to the owner the case was taken from (its grid worker, or its unit's desk); {unit} is the new owner"),
    "sms.co_assigned": TemplateSpec(
        "sms", ASSIGNMENT, "【网格督办】案件{case}（{category}，{urgency}）由{unit}主办，请你单位协办配合。",
        "协办: to each co-owner's desk (or its grid worker) on 派遣 or 改派; {unit} is the lead owner (主办)"),
    "sms.urged": TemplateSpec(
        "sms", URGE, "【网格督办】催办：案件{case}（{category}）请加快办理并及时反馈。{note}",
        "催办 (12345 or the centre pressed for progress) to the case's handler and subscribers; {note} is "
        "催办意见：… when the 催办 carries one, else empty"),
    "sms.centre_alert": TemplateSpec(
        "sms", CENTRE, "【网格督办】{what}：案件{case}（{category}，{urgency}）{detail}",
        "a centre alert (待派遣, 二次退单, 延期申请, 挂起申请, 特急上报, 催办) to its subscribers; {what} names it, "
        "{detail} is the reason when there is one"),
    "sms.suspension_decided": TemplateSpec(
        "sms", SUSPENSION, "【网格督办】案件{case}（{category}）的挂起申请{decision}{until}。{note}",
        "the centre's answer to a 挂起 request, to the unit that asked; {decision} is 已批准 or 未批准, {until} "
        "says until when (or is empty)"),
    "sms.restored": TemplateSpec(
        "sms", RESTORED,
        "【网格督办】12345不同意退单：案件{case}（{category}，{urgency}）退回{unit}，请及时签收办理。{note}",
        "12345 refused our 退单 of its order: the order is back with the unit that had it"),
    "sms.bundle": TemplateSpec(
        "sms", frozenset({"count", "items"}), "【网格督办】您有{count}条提醒：{items}。请及时登录平台处理。",
        "several non-urgent SMS to one person within the bundling window, as one message"),
    "email.assigned_subject": TemplateSpec(
        "email", ASSIGNMENT, "【网格督办】新案件{case}（{urgency}）", "subject of a new-case email"),
    "email.reassigned_away_subject": TemplateSpec(
        "email", ASSIGNMENT, "【网格督办】案件{case}已改派至{unit}", "subject of the email to the previous owner"),
    "email.co_assigned_subject": TemplateSpec(
        "email", ASSIGNMENT, "【网格督办】协办案件{case}（{urgency}）", "subject of a 协办 email"),
    "email.urged_subject": TemplateSpec(
        "email", URGE, "【网格督办】催办：案件{case}", "subject of a 催办 email"),
    "email.centre_alert_subject": TemplateSpec(
        "email", CENTRE, "【网格督办】{what}：案件{case}", "subject of a centre alert email"),
    "email.suspension_decided_subject": TemplateSpec(
        "email", SUSPENSION, "【网格督办】案件{case}挂起申请{decision}", "subject of the 挂起 decision email"),
    "email.restored_subject": TemplateSpec(
        "email", RESTORED, "【网格督办】12345不同意退单：案件{case}", "subject of the email on a refused 退单"),
    "email.light_subject": TemplateSpec(
        "email", LIGHT, "【网格督办】案件{case}{phase}{light}", "subject of a light-change email"),
    "email.escalation_subject": TemplateSpec(
        "email", ESCALATION, "【网格督办】{level}：案件{case}", "subject of a 督办 email"),
    "email.fallback_subject": TemplateSpec(
        "email", frozenset({"summary"}), "【网格督办】短信未能送达，改发邮件：{summary}",
        "subject of the email sent instead of an SMS that could not be delivered; its body is the SMS text"),
}


@dataclass(frozen=True)
class StoredTemplate:
    """A template's text as edited over HTTP (the default until someone does)."""

    name: str
    body: str
    updated_by: str | None = None
    updated_at: datetime | None = None


def placeholders_of(body: str) -> list[str]:
    """The placeholders a text uses; raises TemplateInvalid for anything but plain `{name}`."""
    names = []
    try:
        parsed = list(string.Formatter().parse(body))
    except ValueError as exc:  # a lone { or }
        raise TemplateInvalid(f"unbalanced braces: {exc} (write {{{{ or }}}} for a literal brace)") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise TemplateInvalid(f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
                                  " is not a plain placeholder like {case}")
        names.append(name)
    return names


def validate(name: str, body: str) -> None:
    """Raises TemplateInvalid for a text that could not be rendered or sent as `name`."""
    spec = TEMPLATES[name]
    if not body.strip():
        raise TemplateInvalid("a template needs a text")
    if len(body) > MAX_TEMPLATE_CHARS:
        raise TemplateInvalid(f"a template is at most {MAX_TEMPLATE_CHARS} characters")
    unknown = sorted(set(placeholders_of(body)) - spec.placeholders)
    if unknown:
        raise TemplateInvalid(f"unknown placeholders {', '.join('{' + u + '}' for u in unknown)}; "
                              f"{name} knows {', '.join('{' + p + '}' for p in sorted(spec.placeholders))}")
    if spec.channel == "sms" and not (body.startswith("【") and "】" in body[:20]):
        # Chinese carriers refuse SMS without the sender's registered 签名 in 【】 at the start.
        raise TemplateInvalid("an SMS template starts with the signature in 【】, e.g. 【网格督办】")


def render(name: str, body: str | None, values: dict[str, str]) -> str:
    """The text of template `name` (stored `body`, else the default) with `values` filled in."""
    try:
        return (body or TEMPLATES[name].default).format_map(values)
    except (KeyError, ValueError, IndexError, AttributeError):
        # A text edited around the API: the default still says what it must.
        return TEMPLATES[name].default.format_map(values)


def category_name(code: str | None) -> str:
    """The category as people read it (暴露垃圾、道路不洁), the code itself for one this table lacks."""
    if not code:
        return "—"
    return CATEGORY_ZH.get(code, code)


def _due(due_at: datetime) -> str:
    return due_at.astimezone(SHANGHAI).strftime("%m月%d日%H:%M")


def light_summary(incident_id: object, phase: str, light: str) -> str:
    """One line of a bundled SMS."""
    return f"案件{case_ref(incident_id)}{PHASE_ZH[phase]}{LIGHT_ZH[light]}"


def escalation_summary(incident_id: object, phase: str, level: str) -> str:
    return f"案件{case_ref(incident_id)}{PHASE_ZH[phase]}{LEVEL_ZH[level]}"


def assignment_summary(incident_id: object) -> str:
    return f"新案件{case_ref(incident_id)}"


def reassigned_away_summary(incident_id: object) -> str:
    return f"案件{case_ref(incident_id)}已改派"


def co_assigned_summary(incident_id: object) -> str:
    return f"协办案件{case_ref(incident_id)}"


def urge_summary(incident_id: object) -> str:
    return f"案件{case_ref(incident_id)}催办"


def assignment_values(incident_id: object, category: str, urgency: str, unit_name: str) -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category_name(category),
            "urgency": URGENCY_ZH.get(urgency, urgency), "unit": unit_name}


def light_values(incident_id: object, category: str, phase: str, light: str, due_at: datetime) -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category_name(category), "phase": PHASE_ZH[phase],
            "light": LIGHT_ZH[light], "due": _due(due_at)}


def escalation_values(incident_id: object, category: str, phase: str, level: str, due_at: datetime,
                      note: str = "") -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category_name(category), "phase": PHASE_ZH[phase],
            "level": LEVEL_ZH[level], "due": _due(due_at), "note": f"批示：{note}" if note else ""}


def centre_values(incident_id: object, category: str | None, urgency: str | None, what: str,
                  detail: str = "") -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category_name(category),
            "urgency": URGENCY_ZH.get(urgency or "", urgency or "—"), "what": what,
            "detail": f"：{detail}" if detail else ""}


def suspension_values(incident_id: object, category: str | None, approved: bool, until: datetime | None,
                      note: str = "") -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category_name(category),
            "decision": "已批准" if approved else "未批准",
            "until": f"，挂起至{_due(until)}" if approved and until else "", "note": note}


def urge_values(incident_id: object, category: str | None, note: str = "") -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category_name(category),
            "note": f"催办意见：{note}" if note else ""}


# SMS length (3GPP TS 23.038/23.040): GSM-7 text fits 160 characters in one SMS, 153 per part of a long
# one; anything else (Chinese) goes as UCS-2: 70 UTF-16 units alone, 67 per part (the rest is the UDH).
GSM7_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1  # outside the BMP: a surrogate pair in UCS-2/UTF-16


def sms_segments(text: str) -> list[str]:
    """The parts a carrier sends `text` as, split the same way every time (never inside a character)."""
    gsm = all(c in GSM7_BASIC for c in text)
    single, part = (160, 153) if gsm else (70, 67)
    if sum(_units(c) for c in text) <= single:
        return [text]
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        if used + _units(char) > part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += _units(char)
    parts.append("".join(current))
    return parts


def fit_sms(text: str, max_segments: int) -> str:
    """`text` cut (with …) so it goes in at most `max_segments` parts: a runaway 批示 never costs ten SMS."""
    if len(sms_segments(text)) <= max_segments:
        return text
    ellipsis = "..." if all(c in GSM7_BASIC for c in text) else "…"
    kept = text[:max_segments * 153]
    while len(sms_segments(kept + ellipsis)) > max_segments:
        kept = kept[:-1]
    return kept + ellipsis
