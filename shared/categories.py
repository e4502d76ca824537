"""The category codes (DOMAIN.md §3): the contract every write's `category` must match.

Intake owns the catalogue (names, glosses, default owners, its `GET /v1/categories`); other services
validate codes against this list (routing rules, supervision policies). A test keeps both equal.
"""

CATEGORY_CODES: frozenset[str] = frozenset({
    "city.garbage",
    "city.vending",
    "city.ads",
    "city.illegal_building",
    "city.parking",
    "city.greenery",
    "infra.facility",
    "infra.manhole",
    "infra.drainage",
    "infra.utility",
    "safety.fire",
    "safety.gas",
    "safety.building",
    "safety.workplace",
    "safety.equipment",
    "safety.food",
    "safety.campus",
    "safety.rental",
    "order.public",
    "dispute.neighbour",
    "dispute.family",
    "dispute.property",
    "dispute.land",
    "dispute.wages",
    "dispute.demolition",
    "dispute.medical",
    "dispute.consumer",
    "env.noise",
    "env.pollution",
    "service.assistance",
    "service.errand",
    "service.education",
    "service.transport",
    "info.sentiment",
    "emergency.event",
    "triage.unknown",
})
