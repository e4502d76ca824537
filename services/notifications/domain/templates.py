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

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHASE_ZH = {"sign": "签收", "handle": "办理", "verify": "核查"}
LIGHT_ZH = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
LEVEL_ZH = {"reminder": "催办", "yellow_card": "黄牌督办", "red_card": "红牌督办", "leader": "领导督办"}
MAX_TEMPLATE_CHARS = 1000

LIGHT = frozenset({"case", "category", "phase", "light", "due"})
ESCALATION = frozenset({"case", "category", "phase", "level", "due", "note"})
ASSIGNMENT = frozenset({"case", "category", "urgency", "unit"})
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
    "sms.bundle": TemplateSpec(
        "sms", frozenset({"count", "items"}), "【网格督办】您有{count}条提醒：{items}。请及时登录平台处理。",
        "several non-urgent SMS to one person within the bundling window, as one message"),
    "email.assigned_subject": TemplateSpec(
        "email", ASSIGNMENT, "【网格督办】新案件{case}（{urgency}）", "subject of a new-case email"),
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


def case_ref(incident_id: object) -> str:
    return str(incident_id)[:8]


def _due(due_at: datetime) -> str:
    return due_at.astimezone(SHANGHAI).strftime("%m月%d日%H:%M")


def light_summary(incident_id: object, phase: str, light: str) -> str:
    """One line of a bundled SMS."""
    return f"案件{case_ref(incident_id)}{PHASE_ZH[phase]}{LIGHT_ZH[light]}"


def escalation_summary(incident_id: object, phase: str, level: str) -> str:
    return f"案件{case_ref(incident_id)}{PHASE_ZH[phase]}{LEVEL_ZH[level]}"


def assignment_summary(incident_id: object) -> str:
    return f"新案件{case_ref(incident_id)}"


def assignment_values(incident_id: object, category: str, urgency: str, unit_name: str) -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category, "urgency": URGENCY_ZH.get(urgency, urgency),
            "unit": unit_name}


def light_values(incident_id: object, category: str, phase: str, light: str, due_at: datetime) -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category, "phase": PHASE_ZH[phase],
            "light": LIGHT_ZH[light], "due": _due(due_at)}


def escalation_values(incident_id: object, category: str, phase: str, level: str, due_at: datetime,
                      note: str = "") -> dict[str, str]:
    return {"case": case_ref(incident_id), "category": category, "phase": PHASE_ZH[phase],
            "level": LEVEL_ZH[level], "due": _due(due_at), "note": f"批示：{note}" if note else ""}


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
