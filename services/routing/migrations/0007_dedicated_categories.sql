-- What a dedicated grid (school, hospital, enterprise, park, market) handles itself; any other category reported
-- inside it falls through to the comprehensive grid it sits in (a 征地拆迁 dispute in a school is not the school's).
-- A proposal to edit per city: PUT /v1/dedicated-types/{type}.
CREATE TABLE dedicated_category (
    dedicated_type text NOT NULL,
    category       text NOT NULL,
    PRIMARY KEY (dedicated_type, category)
);

INSERT INTO dedicated_category (dedicated_type, category)
SELECT t, c FROM (VALUES
    ('school', ARRAY['safety.campus', 'safety.fire', 'safety.building', 'safety.equipment', 'safety.food',
                     'order.public', 'infra.facility', 'city.garbage', 'city.greenery', 'service.education']),
    ('hospital', ARRAY['dispute.medical', 'safety.fire', 'safety.building', 'safety.equipment', 'safety.food',
                       'order.public', 'infra.facility', 'city.garbage', 'city.greenery', 'city.parking']),
    ('enterprise', ARRAY['safety.workplace', 'safety.fire', 'safety.building', 'safety.equipment', 'safety.food',
                         'dispute.wages', 'infra.facility', 'city.garbage', 'city.greenery']),
    ('park', ARRAY['city.greenery', 'city.garbage', 'city.vending', 'city.ads', 'infra.facility', 'order.public',
                   'safety.fire', 'safety.equipment']),
    ('market', ARRAY['safety.food', 'dispute.consumer', 'city.vending', 'city.ads', 'city.garbage', 'safety.fire',
                     'order.public', 'infra.facility'])
) AS seed(t, cs), unnest(cs) AS c;
