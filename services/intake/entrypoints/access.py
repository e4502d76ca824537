"""Who may call each of intake's routes, and how what it touches is scoped (shared/access.py)."""

from shared.access import CENTRE, EVERYONE, Access, public, signed

ACCESS: dict[tuple[str, str], Access] = {
    ("GET", "/v1/categories"): public(),  # the taxonomy, as Open311's services list shows it
    # A report lies in the caller's area (a grid worker's in its grids).
    ("POST", "/v1/incidents"): Access(EVERYONE, "case", "write"),
    ("GET", "/v1/incidents"): Access(EVERYONE, "case", "list"),
    ("GET", "/v1/incidents/{incident_id}"): Access(EVERYONE, "case", "read"),
    # Which role may take which action from which state is the case's own rule table (domain/model.py RULES).
    ("POST", "/v1/incidents/{incident_id}/actions"): Access(EVERYONE, "case", "write"),
    ("PUT", "/v1/incidents/{incident_id}/publication"): Access(("supervisor",), "case", "write"),
    # Photos and PDFs: attached by the case's owners, and by grid workers and the centre of its area (the case's
    # own rule, domain/model.py RULES["attach"]); read by whoever may read the case.
    ("POST", "/v1/incidents/{incident_id}/attachments"): Access(
        ("gridworker", "department", "community", "street", "supervisor", "leader"), "case", "write"),
    ("GET", "/v1/incidents/{incident_id}/attachments"): Access(EVERYONE, "case", "read"),
    ("GET", "/v1/incidents/{incident_id}/attachments/{attachment_id}"): Access(EVERYONE, "case", "read"),
    ("GET", "/v1/incidents/{incident_id}/attachments/{attachment_id}/thumbnail"): Access(EVERYONE, "case", "read"),
    ("POST", "/v1/hotline/orders"): signed(),
    ("POST", "/v1/hotline/orders/{order_no}/events"): signed(),
    ("GET", "/v1/hotline/category-map"): Access(CENTRE, "city"),
    ("PUT", "/v1/hotline/category-map"): Access(("admin",), "city", "write"),
    ("GET", "/open311/v2/services.{fmt}"): public(),
    ("GET", "/open311/v2/services/{code}.{fmt}"): public(),
    ("POST", "/open311/v2/requests.{fmt}"): public(),  # an issued api_key, a share a minute
    ("GET", "/open311/v2/requests.{fmt}"): public(),  # public reports and published cases only
    ("GET", "/open311/v2/requests/{request_id}.{fmt}"): public(),
    ("POST", "/v1/open311/keys"): Access(("admin",), "city", "write"),
}
