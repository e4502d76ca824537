"""Who may call each of supervision's routes, and how what it touches is scoped (shared/access.py)."""

from shared.access import CENTRE, EVERYONE, Access

ADMIN = ("admin",)

ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/v1/clock"): Access(EVERYONE, "caller"),
    ("POST", "/v1/clock/advance"): Access(("admin", "supervisor"), "city", "write"),  # the virtual clock only
    ("GET", "/v1/clocks/{incident_id}"): Access(EVERYONE, "case", "read"),
    ("GET", "/v1/clocks"): Access(EVERYONE, "case", "list"),
    ("POST", "/v1/clocks/{incident_id}/escalate"): Access(("supervisor", "leader"), "case", "write"),
    ("GET", "/v1/policies"): Access(CENTRE, "city"),
    ("PUT", "/v1/policies"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/calendar/{year}"): Access(EVERYONE, "caller"),
    ("PUT", "/v1/calendar/{day}"): Access(ADMIN, "city", "write"),
    ("PUT", "/v1/calendar/{year}/schedule"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/stats"): Access(EVERYONE, "area", "list"),
    ("GET", "/v1/rankings"): Access(CENTRE, "area", "list"),
}
