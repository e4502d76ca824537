"""Who may call each of notifications' routes, and how what it touches is scoped (shared/access.py)."""

from shared.access import CENTRE, Access

DESK = ("admin", "supervisor")

ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/v1/deliveries"): Access(CENTRE, "case", "list"),
    ("PUT", "/v1/subscriptions/{sub_id}"): Access(DESK, "area", "write"),
    ("GET", "/v1/subscriptions/{sub_id}"): Access(DESK, "area", "read"),
    ("DELETE", "/v1/subscriptions/{sub_id}"): Access(DESK, "area", "write"),
    ("POST", "/v1/subscriptions/{sub_id}/secret"): Access(DESK, "area", "write"),
    ("GET", "/v1/subscriptions"): Access(DESK, "area", "list"),
    ("PUT", "/v1/contacts/{unit_code}"): Access(DESK, "area", "write"),
    ("GET", "/v1/contacts/{unit_code}"): Access(CENTRE, "area", "read"),
    ("DELETE", "/v1/contacts/{unit_code}"): Access(DESK, "area", "write"),
    ("GET", "/v1/contacts"): Access(CENTRE, "area", "list"),
    ("GET", "/v1/templates"): Access(DESK, "city"),
    ("GET", "/v1/templates/{name}"): Access(DESK, "city"),
    ("PUT", "/v1/templates/{name}"): Access(("admin",), "city", "write"),
    ("GET", "/v1/alerts/stream"): Access(CENTRE, "area", "list"),
}
