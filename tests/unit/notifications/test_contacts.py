from services.notifications.domain.contacts import (
    Person,
    UnitContact,
    contact_keys_for,
    escalation_recipients,
    keys_above,
    owner_unit_key,
    territorial_code,
    unit_desk,
)

GRID = "320508019044007"


def person(name: str, phone: str) -> Person:
    return Person(name, phone)


def directory(*contacts: UnitContact) -> dict[str, UnitContact]:
    return {c.unit_code: c for c in contacts}


CONTACTS = directory(
    UnitContact("320508019044007", "网格", leader=person("网格长", "13900000015")),
    UnitContact("320508019044", "社区", liaison=person("社区联络员", "13900000012"),
                leader=person("社区书记", "13900000112")),
    UnitContact("320508019", "街道", leader=person("街道主任", "13900000109"),
                supervisor=person("街道分管副主任", "13900000209")),
    UnitContact("320508", "区", leader=person("区长", "13900000106"),
                supervisor=person("区综治中心主任", "13900000206")),
    UnitContact("dept-municipal-320508", "市政局", leader=Person("市政局长", email="chief@muni.example")),
)


def keys(level: str, unit: str, grid: str | None = GRID) -> list[str]:
    return [r.key for r in escalation_recipients(level, unit, grid, CONTACTS)]


def test_the_owner_unit_is_found_by_the_case_grid_code_or_the_department_id():
    assert owner_unit_key("community", "community-x", GRID) == "320508019044"
    assert owner_unit_key("grid", "grid-320508019044007", GRID) == GRID
    assert owner_unit_key("district", "district-320508", GRID) == "320508"
    assert owner_unit_key("department", "dept-municipal-320508", GRID) == "dept-municipal-320508"
    assert owner_unit_key(None, "grid-9", None) == "grid-9"


def test_the_chain_above_follows_the_code_prefixes_and_a_department_answers_to_its_district():
    assert keys_above(GRID, GRID) == ["320508019044", "320508019", "320508"]
    assert keys_above("320508019", GRID) == ["320508"]
    assert keys_above("320508", GRID) == []
    assert keys_above("dept-municipal-320508", GRID) == ["320508"]


def test_each_level_tells_more_people_cumulatively():
    assert keys("reminder", "320508019044") == []
    assert keys("yellow_card", "320508019044") == ["contact:320508019044:leader"]
    # the community has no supervisor: the nearest above with one (the street) is told
    assert keys("red_card", "320508019044") == ["contact:320508019044:leader", "contact:320508019:supervisor"]
    assert keys("leader", "320508019044") == ["contact:320508019044:leader", "contact:320508019:supervisor",
                                              "contact:320508:leader"]


def test_a_street_owned_case_goes_to_the_district_above_and_one_person_hears_once():
    assert keys("red_card", "320508019") == ["contact:320508019:leader", "contact:320508019:supervisor",
                                             "contact:320508:supervisor"]
    assert keys("leader", "320508") == ["contact:320508:leader", "contact:320508:supervisor"]  # leader twice: once


def test_a_department_case_reaches_the_department_head_then_the_district():
    found = escalation_recipients("leader", "dept-municipal-320508", GRID, CONTACTS)
    assert [r.key for r in found] == ["contact:dept-municipal-320508:leader", "contact:320508:supervisor",
                                      "contact:320508:leader"]
    assert found[0].person.email == "chief@muni.example" and found[0].person.phone is None


def test_a_unit_owned_case_reaches_the_liaison_else_the_head():
    assert unit_desk("320508019044", CONTACTS).key == "contact:320508019044:liaison"
    assert unit_desk("320508019", CONTACTS).key == "contact:320508019:leader"
    assert unit_desk("310101", CONTACTS) is None
    assert contact_keys_for("320508019044", GRID) == ["320508019044", "320508019", "320508", "3205"]


def test_a_post_without_phone_or_email_is_nobody_to_tell():
    contacts = directory(UnitContact("320508019044", "社区", liaison=Person("空岗"),
                                     leader=person("书记", "13900000112")))
    assert unit_desk("320508019044", contacts).key == "contact:320508019044:leader"


def test_a_contact_lies_within_an_area_by_its_code_and_a_department_only_city_wide():
    community = UnitContact("320508019044", "社区")
    department = UnitContact("dept-municipal-320508", "市政局")
    assert community.lies_within(("320508",)) and not community.lies_within(("310101",))
    assert department.lies_within(("",)) and not department.lies_within(("320508",))


def test_leader_supervision_reaches_the_citys_leader_as_well_as_the_districts():
    """DOMAIN.md §5, 领导督办: "+ `leader` of district or city". The city is keyed by the first 4 digits of
    the codes (3205); a department's case finds it through the case's grid. Lower levels never reach it."""
    contacts = {**CONTACTS, "3205": UnitContact("3205", "苏州市", leader=person("分管副市长", "13900000105"),
                                                supervisor=person("市指挥中心", "13900000205"))}
    assert [r.key for r in escalation_recipients("leader", "320508019044", GRID, contacts)] == [
        "contact:320508019044:leader", "contact:320508019:supervisor", "contact:320508:leader",
        "contact:3205:leader"]
    assert [r.key for r in escalation_recipients("leader", "dept-municipal-320508", GRID, contacts)][-1] == \
        "contact:3205:leader"
    assert "contact:3205:leader" not in keys("red_card", "320508019044")
    assert all("3205:" not in r.key for r in escalation_recipients("red_card", "320508", GRID, contacts))
    assert contact_keys_for("dept-municipal-320508", GRID) == ["dept-municipal-320508", "320508", "3205"]


def test_a_city_leader_who_is_also_the_districts_hears_once():
    """One person holding two posts hears once (one delivery per event, recipient and channel: DESIGN §6)."""
    same = person("区委书记兼副市长", "13900000106")
    contacts = {**CONTACTS, "3205": UnitContact("3205", "苏州市", leader=same)}
    assert [r.key for r in escalation_recipients("leader", "320508", GRID, contacts)] == [
        "contact:320508:leader", "contact:320508:supervisor"]


def test_a_territorial_unit_is_keyed_by_the_code_its_id_carries():
    """Territorial units are keyed by their code (contacts' key rule): a co-owner or previous owner in another
    street than the case's grid is found by its own code; ids without one fall back to the grid's."""
    assert territorial_code("street-320508020") == "320508020"
    assert territorial_code("street-32050802") is None and territorial_code("dept-water") is None
    assert owner_unit_key("street", "street-320508020", GRID) == "320508020"
    assert owner_unit_key(None, "community-320508019045", None) == "320508019045"
    assert owner_unit_key("street", "street-central", GRID) == "320508019"
