-- 事项性质 (DOMAIN.md §7, a proposal) in the time-limit policies (DOMAIN.md §5: limits are defaults per
-- category × urgency × phase, and now nature): a 12345 咨询 may get other limits than a 投诉. '*' = any nature;
-- the lookup takes the most specific policy (find_policy).
ALTER TABLE policy
    ADD COLUMN nature text NOT NULL DEFAULT '*'
        CHECK (nature IN ('*', 'consultation', 'request', 'complaint', 'report', 'suggestion', 'praise'));
ALTER TABLE policy DROP CONSTRAINT policy_pkey;
ALTER TABLE policy ADD PRIMARY KEY (category, urgency, phase, nature);

-- The nature of a 12345 order (NULL for other sources), and the nature a clock's policy was chosen by: an
-- extension or a calendar recount looks up the same policy again.
ALTER TABLE supervised_case ADD COLUMN nature text;
ALTER TABLE phase_clock ADD COLUMN nature text;
