"""Who may call each of supervision's routes, and how what it touches is scoped (shared/access.py)."""

from shared.access import CENTRE, EVERYONE, Access, public

ADMIN = ("admin",)

ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/v1/clock"): public(),  # every process follows the clock by it (CLOCK_URL), with no token
    ("POST", "/v1/clock/advance"): Access(("admin", "supervisor"), "city", "write"),  # the virtual clock only
    ("GET", "/v1/clocks/{incident_id}"): Access(EVERYONE, "case", "read"),
    ("GET", "/v1/clocks"): Access(EVERYONE, "case", "list"),
    ("POST", "/v1/clocks/{incident_id}/escalate"): Access(("supervisor", "leader"), "case", "write"),
    ("GET", "/v1/policies"): Access(CENTRE, "city"),
    ("PUT", "/v1/policies"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/calendar/{year}"): public(),  # the published holidays and 调休 days
    ("PUT", "/v1/calendar/{day}"): Access(ADMIN, "city", "write"),
    ("PUT", "/v1/calendar/{year}/schedule"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/stats"): Access(EVERYONE, "area", "list"),
    ("GET", "/v1/rankings"): Access(CENTRE, "area", "list"),
}

# Mounted only on dev and test stacks without an identity provider (entrypoints/dev.py): declared only there.
DEV_ACCESS: dict[tuple[str, str], Access] = {
    ("POST", "/v1/dev/token"): public(),  # the console's development sign-in; mints, writes nothing
}
