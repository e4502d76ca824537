-- Message texts, editable over HTTP (GET/PUT /v1/templates/{name}); seeded with the defaults of
-- services/notifications/domain/templates.py (a test keeps the two equal).
CREATE TABLE template (
    name        text PRIMARY KEY,
    body        text NOT NULL,
    updated_by  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO template (name, body) VALUES
    ('sms.light_yellow', '【网格督办】案件{case}（{category}）{phase}即将超时亮{light}，请于{due}前处理。'),
    ('sms.light_red', '【网格督办】案件{case}（{category}）{phase}已超时亮红灯，时限{due}已过，请立即处理。'),
    ('sms.escalation', '【网格督办】{level}：案件{case}（{category}）{phase}时限{due}，请督促责任单位限时办理。{note}'),
    ('email.light_subject', '【网格督办】案件{case}{phase}{light}'),
    ('email.escalation_subject', '【网格督办】{level}：案件{case}');
