-- Owners are told of a new case on routing's assignment (DESIGN §6): its texts, editable like the rest.
INSERT INTO template (name, body) VALUES
    ('sms.assigned', '【网格督办】新案件{case}（{category}，{urgency}）已派至{unit}，请及时签收。'),
    ('email.assigned_subject', '【网格督办】新案件{case}（{urgency}）')
ON CONFLICT (name) DO NOTHING;
