-- More 12345 诉求分类 names seen in hotline orders, mapped to our categories.
INSERT INTO hotline_category_map (kind, value, category) VALUES
    ('name', '邻里纠纷', 'dispute.neighbour'),
    ('name', '婚姻家庭', 'dispute.family'),
    ('name', '劳动保障', 'dispute.wages'),
    ('name', '城市管理', 'city.garbage'),
    ('name', '市政设施', 'infra.facility'),
    ('name', '燃气安全', 'safety.gas'),
    ('name', '食品安全', 'safety.food'),
    ('name', '教育', 'service.education'),
    ('name', '交通', 'service.transport'),
    ('keyword', '邻里', 'dispute.neighbour'),
    ('keyword', '漏水', 'dispute.neighbour')
ON CONFLICT (kind, value) DO NOTHING;
