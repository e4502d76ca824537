"""Who may call each of routing's routes, and how what it touches is scoped (shared/access.py)."""

from shared.access import CENTRE, EVERYONE, Access

ADMIN = ("admin",)

ACCESS: dict[tuple[str, str], Access] = {
    ("POST", "/v1/grids/import"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/grids"): Access(EVERYONE, "area", "list"),
    ("GET", "/v1/grids/{code}/geojson"): Access(EVERYONE, "area", "read"),
    ("GET", "/v1/grids/{code}"): Access(EVERYONE, "area", "read"),
    ("GET", "/v1/locate"): Access(EVERYONE, "caller"),
    ("GET", "/v1/units"): Access(CENTRE, "area", "list"),  # whom the centre may dispatch to (改派)
    ("PUT", "/v1/units/{unit_id}"): Access(ADMIN, "city", "write"),
    ("PUT", "/v1/workers/{worker_id}"): Access(ADMIN, "city", "write"),
    ("PUT", "/v1/workers/{worker_id}/roster"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/workers/{worker_id}/roster"): Access(EVERYONE, "area", "read"),
    ("DELETE", "/v1/workers/{worker_id}/roster"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/rules"): Access(CENTRE, "city"),
    ("PUT", "/v1/rules"): Access(ADMIN, "city", "write"),
    ("GET", "/v1/dedicated-types"): Access(EVERYONE, "caller"),
    ("PUT", "/v1/dedicated-types/{dedicated_type}"): Access(ADMIN, "city", "write"),
    ("POST", "/v1/assignments/{incident_id}/dispatch"): Access(CENTRE, "case", "write"),
    ("GET", "/v1/assignments/{incident_id}"): Access(EVERYONE, "case", "read"),
}
