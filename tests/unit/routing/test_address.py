import random

import pytest
from shapely.geometry import box

from services.routing.domain.address import AddressIndex, Named, normalise
from services.routing.domain.assignment import Rule, Unit, Worker, decide_owner
from services.routing.domain.locator import GridInfo, Locator

ZHANGDIAN, BOSHAN = "370303", "370304"
Z_STREET, B_STREET = "370303001", "370304001"
HUAGUANG, Z_XINHUA, Z_DONGXINHUA = "370303001001", "370303001002", "370303001003"
B_XINHUA, B_HEPING = "370304001001", "370304001002"

PLACES = [
    Named(ZHANGDIAN, "张店区", "district"), Named(BOSHAN, "博山区", "district"),
    Named(Z_STREET, "车站街道", "street"), Named(B_STREET, "城东街道", "street"),
    Named(HUAGUANG, "华光社区", "community"), Named(Z_XINHUA, "新华社区", "community"),
    Named(Z_DONGXINHUA, "东新华社区", "community"),
    Named(B_XINHUA, "新华社区", "community"), Named(B_HEPING, "和平社区", "community"),
    Named(HUAGUANG + "001", "华光社区第1网格", "grid"), Named(HUAGUANG + "003", "华光社区第3网格", "grid"),
    Named(HUAGUANG + "801", "实验小学", "grid"), Named(B_HEPING + "801", "实验小学", "grid"),
    Named(B_HEPING + "802", "博山区人民医院", "grid"),
    Named(HUAGUANG + "003002", "华光苑5号楼", "micro"),
]


def index(places=PLACES) -> AddressIndex:
    return AddressIndex(places)


@pytest.mark.parametrize("raw, expected", [
    ("张店区 华光社区第三网格（东门）", "张店区华光社区3网格东门"),
    ("ＡＢＣ１２３号", "abc123号"),
    ("第十二网格", "12网格"),
    ("一百零五号", "105号"),
    ("二〇二六年", "2026年"),
    ("三四十", "三四十"),
    ("華光社區 第三網格", "华光社区3网格"),
])
def test_normalise_full_width_punctuation_spaces_and_chinese_numerals(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize("address, code", [
    ("张店区华光社区第三网格东门", HUAGUANG + "003"),       # 第三 = 第3
    ("华光社区3网格", HUAGUANG + "003"),
    ("淄博市张店区华光社区", HUAGUANG),
    ("张店区　华光社区，靠近路口", HUAGUANG),                # full-width space, punctuation
    ("华光居委会门口", HUAGUANG),                            # 居委会 for 社区
    ("博山区新华社区", B_XINHUA),                            # the district tells the two 新华社区 apart
    ("车站街道新华社区", Z_XINHUA),
    ("东新华社区12号楼", Z_DONGXINHUA),                      # longest name wins over 新华社区 inside it
    ("华光社区实验小学西门", HUAGUANG + "801"),              # the dedicated grid of that community
    ("和平社区实验小学", B_HEPING + "801"),
    ("城东街道", B_STREET),
    ("张店区", ZHANGDIAN),
    ("华光苑5号楼3单元", HUAGUANG + "003"),                   # a micro grid places the case at its grid
    ("張店區華光社區第三網格", HUAGUANG + "003"),              # typed in traditional characters
    ("博山區人民醫院急診樓", B_HEPING + "802"),
])
def test_the_most_specific_consistent_name_wins(address, code):
    match = index().match(address)
    assert match.code == code, match


def test_a_context_consistent_name_beats_a_deeper_one_elsewhere():
    # 博山区人民医院 lies in 博山区, but the address is 张店区华光社区: the consistent chain wins.
    assert index().match("张店区华光社区对面博山区人民医院宣传栏").code == HUAGUANG


def test_the_note_lists_the_names_that_placed_it():
    match = index().match("张店区华光社区第3网格")
    assert match.matched == ("张店区", "华光社区第3网格")
    assert "张店区" in match.note and "华光社区第3网格" in match.note


def test_equal_candidates_in_different_districts_are_not_guessed():
    match = index().match("新华社区健身广场")
    assert match.code is None and "ambiguous" in match.note
    assert Z_XINHUA in match.note and B_XINHUA in match.note


def test_equal_candidates_in_one_street_are_placed_at_the_street():
    places = [Named(ZHANGDIAN, "张店区", "district"), Named(Z_STREET, "车站街道", "street"),
              Named(Z_STREET + "008", "和平社区", "community"), Named(Z_STREET + "009", "和平社区", "community")]
    match = index(places).match("和平社区")
    assert match.code == Z_STREET and "common street" in match.note


def test_no_name_matches():
    match = index().match("人民路100号")
    assert match.code is None and match.note == "no registry name in the address"


def test_the_answer_does_not_depend_on_load_order():
    addresses = ["新华社区", "华光社区实验小学", "实验小学", "车站街道新华社区", "华光社区第3网格"]
    expected = [index().match(a) for a in addresses]
    for seed in range(5):
        shuffled = PLACES[:]
        random.Random(seed).shuffle(shuffled)
        assert [index(shuffled).match(a) for a in addresses] == expected


def test_single_characters_never_match():
    assert index([Named("370303", "区", "district")]).match("张店区").code is None


# A case placed by address at a community (no grid known) goes to the community or above.
def _locator() -> Locator:
    whole = box(117.9, 36.6, 118.3, 36.95)
    return Locator([(GridInfo(ZHANGDIAN, "张店区", "district", "territorial"), whole),
                    (GridInfo(Z_STREET, "车站街道", "street", "territorial"), whole),
                    (GridInfo(HUAGUANG, "华光社区", "community", "territorial"), whole),
                    (GridInfo(HUAGUANG + "001", "华光社区第1网格", "grid", "comprehensive"), whole)])


UNITS = [Unit("g1", "grid", "华光社区第1网格", (HUAGUANG + "001",)),
         Unit("c1", "community", "华光社区居委会", (HUAGUANG,)),
         Unit("s1", "street", "车站街道办事处", (Z_STREET,)), Unit("d1", "district", "张店区中心", (ZHANGDIAN,)),
         Unit("dept-water", "department", "张店区水利局", (ZHANGDIAN,), "water")]


def test_a_community_only_place_goes_to_the_community_when_the_rule_wants_a_grid():
    located, match = _locator().match_address("华光社区")
    assert located is not None and located.grid is None and located.place.code == HUAGUANG
    workers = [Worker("w1", "张三", "13900000001", "g1", (HUAGUANG + "001",), True)]
    decision = decide_owner(located, f"placed by address ({match.note})", UNITS, workers, Rule("grid"))
    assert decision.owner.unit_id == "c1"
    assert "placed by address (matched 华光社区) in community 370303001001" in decision.reason
    assert "no grid known for the place" in decision.reason


def test_a_community_only_place_still_follows_rules_above_it_and_departments():
    located, _ = _locator().match_address("华光社区")
    assert decide_owner(located, "by address", UNITS, [], Rule("street")).owner.unit_id == "s1"
    assert decide_owner(located, "by address", UNITS, [], Rule("dept:water")).owner.unit_id == "dept-water"


def test_a_district_only_place_goes_to_the_district():
    located, _ = _locator().match_address("张店区某某路")
    decision = decide_owner(located, "by address", UNITS, [], Rule("community"))
    assert decision.owner.unit_id == "d1" and located.district.code == ZHANGDIAN and located.street is None
