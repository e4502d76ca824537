-- 12345 work orders (DOMAIN.md §7): the order's own fields, the category mapping, replay protection
-- of signed requests, and 12345's own events about orders it already sent.
ALTER TABLE incident ADD COLUMN hotline jsonb;

CREATE TABLE hotline_category_map (
    kind      text NOT NULL CHECK (kind IN ('code', 'name', 'prefix', 'keyword')),
    value     text NOT NULL,
    category  text NOT NULL REFERENCES category (code),
    PRIMARY KEY (kind, value)
);

-- A per-hotline mapping is data: these rows are the examples of DOMAIN.md §3, extended by import.
INSERT INTO hotline_category_map (kind, value, category) VALUES
    ('name', '市容环境卫生', 'city.garbage'),
    ('name', '违法建设', 'city.illegal_building'),
    ('name', '欠薪', 'dispute.wages'),
    ('name', '供水', 'infra.utility'),
    ('name', '供电', 'infra.utility'),
    ('name', '供气', 'infra.utility'),
    ('name', '供暖', 'infra.utility'),
    ('name', '噪声', 'env.noise'),
    ('name', '物业管理', 'dispute.property'),
    ('keyword', '噪声', 'env.noise'),
    ('keyword', '噪音', 'env.noise'),
    ('keyword', '欠薪', 'dispute.wages'),
    ('keyword', '拖欠工资', 'dispute.wages'),
    ('keyword', '垃圾', 'city.garbage'),
    ('keyword', '井盖', 'infra.manhole'),
    ('keyword', '路灯', 'infra.facility'),
    ('keyword', '积水', 'infra.drainage'),
    ('keyword', '燃气', 'safety.gas'),
    ('keyword', '物业', 'dispute.property'),
    ('keyword', '违建', 'city.illegal_building'),
    ('keyword', '占道', 'city.vending'),
    ('keyword', '停车', 'city.parking'),
    ('keyword', '油烟', 'env.pollution'),
    ('keyword', '电梯', 'safety.equipment'),
    ('keyword', '消防', 'safety.fire');

CREATE TABLE seen_signature (
    signature  text PRIMARY KEY,
    seen_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seen_signature_age ON seen_signature (seen_at);

CREATE TABLE hotline_event (
    event_id     text PRIMARY KEY,
    order_no     text NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
