-- Where an SMS falls back to when it is dead (the recipient's email), and the subject of that email.
ALTER TABLE delivery ADD COLUMN fallback_email text;

INSERT INTO template (name, body) VALUES
    ('email.fallback_subject', '【网格督办】短信未能送达，改发邮件：{summary}');
