"""Message texts (Chinese, with the 【签名】 SMS convention). Pure."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHASE_ZH = {"sign": "签收", "handle": "办理", "verify": "核查"}
LIGHT_ZH = {"green": "绿灯", "yellow": "黄灯", "red": "红灯"}
LEVEL_ZH = {"reminder": "催办", "yellow_card": "黄牌督办", "red_card": "红牌督办", "leader": "领导督办"}
SMS_MAX_CHARS = 300  # long SMS are split by carriers at 67 chars per part; keep within a few parts


def case_ref(incident_id: object) -> str:
    return str(incident_id)[:8]


def light_sms(incident_id: object, category: str, phase: str, light: str, due_at: datetime) -> str:
    due = due_at.astimezone(SHANGHAI).strftime("%m月%d日%H:%M")
    if light == "red":
        text = (f"【网格督办】案件{case_ref(incident_id)}（{category}）{PHASE_ZH[phase]}已超时亮红灯，"
                f"时限{due}已过，请立即处理。")
    else:
        text = (f"【网格督办】案件{case_ref(incident_id)}（{category}）{PHASE_ZH[phase]}即将超时亮{LIGHT_ZH[light]}，"
                f"请于{due}前处理。")
    return text[:SMS_MAX_CHARS]


def escalation_sms(incident_id: object, category: str, phase: str, level: str, due_at: datetime, note: str = "") -> str:
    due = due_at.astimezone(SHANGHAI).strftime("%m月%d日%H:%M")
    text = (f"【网格督办】{LEVEL_ZH[level]}：案件{case_ref(incident_id)}（{category}）{PHASE_ZH[phase]}"
            f"时限{due}，请督促责任单位限时办理。" + (f"批示：{note}" if note else ""))
    return text[:SMS_MAX_CHARS]


def escalation_email_subject(incident_id: object, level: str) -> str:
    return f"【网格督办】{LEVEL_ZH[level]}：案件{case_ref(incident_id)}"
