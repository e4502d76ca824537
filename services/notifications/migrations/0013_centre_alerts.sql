-- Issue 14: the centre's alerts (待派遣, 二次退单, 延期 and 挂起 requests, 特急上报, 催办) to their subscribers, the
-- answer to a 挂起 request to the unit that asked, and 12345's refusal of our 退单 to the unit that had the order;
-- their texts, editable like the rest (the defaults of services/notifications/domain/templates.py).
INSERT INTO template (name, body) VALUES
    ('sms.centre_alert', '【网格督办】{what}：案件{case}（{category}，{urgency}）{detail}'),
    ('email.centre_alert_subject', '【网格督办】{what}：案件{case}'),
    ('sms.suspension_decided', '【网格督办】案件{case}（{category}）的挂起申请{decision}{until}。{note}'),
    ('email.suspension_decided_subject', '【网格督办】案件{case}挂起申请{decision}'),
    ('sms.restored', '【网格督办】12345不同意退单：案件{case}（{category}，{urgency}）退回{unit}，请及时签收办理。{note}'),
    ('email.restored_subject', '【网格督办】12345不同意退单：案件{case}')
ON CONFLICT (name) DO NOTHING;
