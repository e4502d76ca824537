-- The contacts directory: who answers for each unit (its liaison desk, its head, its 分管领导/supervisor).
-- Territorial units by code (6/9/12/15 digits), departments by their unit id.
CREATE TABLE contact (
    unit_code   text PRIMARY KEY,
    name        text NOT NULL,
    liaison     jsonb,                 -- {"name", "phone", "email"}: takes the unit's case SMS
    leader      jsonb,                 -- 单位负责人: told from 黄牌督办 on
    supervisor  jsonb,                 -- 分管领导 / 督办 officer: told from 红牌督办 on, also for units below
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Which kind of unit owns a case (grid, community, street, district, department): finds its contact.
ALTER TABLE case_owner ADD COLUMN unit_kind text;
