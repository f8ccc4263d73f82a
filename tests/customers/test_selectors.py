import datetime

import pytest
from django.utils import timezone

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers.models import Customer, CustomFieldDefinition, Tag
from valuecrm.customers.selectors import (
    customer_count,
    customer_get,
    customer_iter,
    customer_list,
)
from valuecrm.orders.models import Order

from .helpers import make


def names(rows):
    return [c.name for c in rows]


# ---------------------------------------------------------------- visibility

def test_rep_sees_only_own_manager_sees_team_admin_sees_all(
    rep_north, rep_south, manager_north, admin_user, make_user, team_north
):
    other_north_rep = make_user("rep_north_2", team=team_north)
    make("Own", rep_north)
    make("Teammate", other_north_rep)
    make("South", rep_south)
    make("Nobody")

    assert names(customer_list(user=rep_north, sort="name")[0]) == ["Own"]
    assert names(customer_list(user=manager_north, sort="name")[0]) == ["Own", "Teammate"]
    assert names(customer_list(user=admin_user, sort="name")[0]) == ["Nobody", "Own", "South", "Teammate"]


def test_customer_get_hides_invisible_records_as_not_found(rep_north, rep_south):
    mine = make("Mine", rep_north)
    theirs = make("Theirs", rep_south)

    assert customer_get(user=rep_north, pk=mine.pk) == mine
    with pytest.raises(NotFound):
        customer_get(user=rep_north, pk=theirs.pk)
    with pytest.raises(NotFound):
        customer_get(user=rep_north, pk="abc")
    with pytest.raises(NotFound):
        customer_get(user=rep_north, pk=999999)


# ---------------------------------------------------------------- search

@pytest.fixture
def search_set(admin_user):
    acme = make("Acme Trading", kind="organization")
    make("Li Lei", email="li.lei@example.com", phone="+8613800138000", company=acme)
    make("Han Meimei", email="han@sample.cn", phone="+8613912345678")
    make("王小明", email="wang@example.org")
    return admin_user


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("li lei", ["Li Lei"]),  # name, case-insensitive
        ("SAMPLE.CN", ["Han Meimei"]),  # email
        ("小明", ["王小明"]),  # Chinese name
        ("138 0013 8000", ["Li Lei"]),  # phone typed locally with spaces
        ("+86 139-1234-5678", ["Han Meimei"]),  # phone with country code
        ("5678", ["Han Meimei"]),  # phone suffix
        ("acme", ["Acme Trading", "Li Lei"]),  # company name finds its contacts
        ("１３８００１３８０００", ["Li Lei"]),  # full-width digits from a Chinese IME
        ("nobody-matches", []),
    ],
)
def test_search_by_each_key(search_set, query, expected):
    rows, _ = customer_list(user=search_set, search=query, sort="name")
    assert sorted(names(rows)) == sorted(expected)


def test_search_rejects_overlong_query(admin_user):
    with pytest.raises(ValidationFailed) as exc:
        customer_list(user=admin_user, search="x" * 201)
    assert "q" in exc.value.errors


# ---------------------------------------------------------------- filters

def test_filters_by_kind_owner_team_tag_city_region_channel(rep_north, rep_south, admin_user, team_north):
    vip = Tag.objects.create(name="vip")
    a = make("A", rep_north, kind="person", city="Shanghai", region="East", acquisition_channel="wechat")
    a.tags.add(vip)
    make("B", rep_south, kind="organization", city="Beijing", region="North", acquisition_channel="store")
    make("C", None, city="shanghai")

    def run(**filters):
        return names(customer_list(user=admin_user, filters=filters, sort="name")[0])

    assert run(kind="organization") == ["B"]
    assert run(owner=str(rep_north.pk)) == ["A"]
    assert run(owner="none") == ["C"]
    assert run(team=str(team_north.pk)) == ["A"]
    assert run(team="none") == ["C"]
    assert run(tag="vip") == ["A"]
    assert run(city="SHANGHAI") == ["A", "C"]
    assert run(region="North") == ["B"]
    assert run(channel="wechat") == ["A"]
    assert run(city="Shanghai", owner="none") == ["C"]
    assert names(customer_list(user=rep_north, filters={"owner": "me"})[0]) == ["A"]


def test_filter_created_date_range_is_inclusive_in_local_time(admin_user):
    tz = timezone.get_current_timezone()
    make("May 1 late", created_at=datetime.datetime(2024, 5, 1, 23, 30, tzinfo=tz))
    make("May 2", created_at=datetime.datetime(2024, 5, 2, 9, 0, tzinfo=tz))
    make("May 3 early", created_at=datetime.datetime(2024, 5, 3, 0, 10, tzinfo=tz))

    rows, _ = customer_list(
        user=admin_user, filters={"created_from": "2024-05-02", "created_to": "2024-05-02"}
    )
    assert names(rows) == ["May 2"]
    rows, _ = customer_list(user=admin_user, filters={"created_to": "2024-05-02"}, sort="created")
    assert names(rows) == ["May 1 late", "May 2"]


def test_filter_has_orders(admin_user):
    buyer = make("Buyer")
    make("Browser")
    Order.objects.create(customer=buyer, external_id="o-1", total_amount=10)

    assert names(customer_list(user=admin_user, filters={"has_orders": "yes"})[0]) == ["Buyer"]
    assert names(customer_list(user=admin_user, filters={"has_orders": "no"})[0]) == ["Browser"]


def test_filter_on_custom_fields(admin_user):
    CustomFieldDefinition.objects.create(key="industry", label="Industry", field_type="choice",
                                         choices=["retail", "b2b"])
    CustomFieldDefinition.objects.create(key="employees", label="Employees", field_type="number")
    CustomFieldDefinition.objects.create(key="vip", label="VIP", field_type="boolean")
    CustomFieldDefinition.objects.create(key="note", label="Note", field_type="text")
    make("Shop", custom_fields={"industry": "retail", "employees": 12, "vip": True, "note": "Big Buyer"})
    make("Factory", custom_fields={"industry": "b2b", "employees": 300, "vip": False})

    def run(**filters):
        return names(customer_list(user=admin_user, filters=filters)[0])

    assert run(cf_industry="b2b") == ["Factory"]
    assert run(cf_employees="12") == ["Shop"]
    assert run(cf_vip="yes") == ["Shop"]
    assert run(cf_vip="no") == ["Factory"]
    assert run(cf_note="big") == ["Shop"]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"kind": "robot"}, "kind"),
        ({"owner": "abc"}, "owner"),
        ({"created_from": "2024-13-01"}, "created_from"),
        ({"has_orders": "maybe"}, "has_orders"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filters_raise_validation_naming_the_field(admin_user, filters, field):
    with pytest.raises(ValidationFailed) as exc:
        customer_list(user=admin_user, filters=filters)
    assert list(exc.value.errors) == [field]


def test_blank_filter_values_are_ignored(admin_user):
    make("X")
    assert names(customer_list(user=admin_user, filters={"kind": "", "city": "  "})[0]) == ["X"]


# ---------------------------------------------------------------- sort and keyset pages

def test_sort_orders_with_id_tiebreaker(admin_user):
    tz = timezone.get_current_timezone()
    same = datetime.datetime(2024, 1, 1, tzinfo=tz)
    c1 = make("Bravo", created_at=same)
    c2 = make("Alpha", created_at=same)
    c3 = make("Bravo", created_at=datetime.datetime(2023, 1, 1, tzinfo=tz))

    def ids(sort):
        return [c.pk for c in customer_list(user=admin_user, sort=sort)[0]]

    assert ids("name") == [c2.pk, c1.pk, c3.pk]
    assert ids("-name") == [c3.pk, c1.pk, c2.pk]
    assert ids("created") == [c3.pk, c1.pk, c2.pk]
    assert ids("-created") == [c2.pk, c1.pk, c3.pk]
    assert ids("id") == [c1.pk, c2.pk, c3.pk]
    assert ids("-id") == [c3.pk, c2.pk, c1.pk]


def test_bad_sort_and_limit_raise_validation(admin_user):
    with pytest.raises(ValidationFailed) as exc:
        customer_list(user=admin_user, sort="email")
    assert list(exc.value.errors) == ["sort"]
    with pytest.raises(ValidationFailed) as exc:
        customer_list(user=admin_user, limit=0)
    assert list(exc.value.errors) == ["limit"]


@pytest.mark.parametrize("sort", ["name", "-name", "created", "-created", "id", "-id"])
def test_keyset_cursor_round_trip_with_ties_visits_every_row_once(admin_user, sort):
    tz = timezone.get_current_timezone()
    # Many ties on both name and created_at, so pages must split inside a tie.
    for i in range(23):
        make(f"Name {i % 3}", created_at=datetime.datetime(2024, 1, 1 + i % 4, tzinfo=tz))
    expected = [c.pk for c in customer_list(user=admin_user, sort=sort, limit=500)[0]]

    seen, after, pages = [], None, 0
    while True:
        rows, after = customer_list(user=admin_user, sort=sort, after=after, limit=5)
        seen.extend(c.pk for c in rows)
        pages += 1
        if after is None:
            break
    assert seen == expected
    assert len(seen) == 23
    assert pages == 5


def test_cursor_respects_visibility_and_rejects_garbage(rep_north, rep_south, admin_user):
    for i in range(3):
        make(f"N{i}", rep_north)
        make(f"S{i}", rep_south)
    rows, after = customer_list(user=rep_north, limit=2)
    rest, _ = customer_list(user=rep_north, after=after, limit=10)
    assert {c.owner_id for c in rows + rest} == {rep_north.pk}
    assert len(rows + rest) == 3

    for garbage in ["not-base64!", "bm9wZQ", "WzEsMl0x"]:
        with pytest.raises(ValidationFailed) as exc:
            customer_list(user=admin_user, after=garbage)
        assert list(exc.value.errors) == ["after"]
    # A valid id cursor used with a name sort is also rejected, not a 500.
    _, id_cursor = customer_list(user=admin_user, sort="-id", limit=1)
    with pytest.raises(ValidationFailed):
        customer_list(user=admin_user, sort="created", after=id_cursor)


def test_iter_streams_all_matching_rows_in_batches(admin_user):
    for i in range(12):
        make(f"C{i:02d}", city="Hangzhou" if i % 2 else "Suzhou")
    rows = list(customer_iter(user=admin_user, filters={"city": "Hangzhou"}, sort="name", batch_size=4))
    assert names(rows) == [f"C{i:02d}" for i in range(1, 12, 2)]


def test_capped_count(admin_user, rep_north):
    for i in range(7):
        make(f"C{i}", rep_north if i < 3 else None)
    assert str(customer_count(user=admin_user, search="C", cap=5)) == "5+"
    assert customer_count(user=admin_user, search="C", cap=5).capped is True
    exact = customer_count(user=rep_north, cap=5)
    assert (exact.value, exact.capped, str(exact)) == (3, False, "3")


def test_unfiltered_count_of_the_whole_base_is_exact(admin_user, rep_north):
    for i in range(7):
        make(f"C{i}", rep_north if i < 3 else None)

    whole = customer_count(user=admin_user, cap=5)

    assert (whole.value, whole.capped, str(whole)) == (7, False, "7")
    assert customer_count(user=rep_north, cap=2).capped is True  # own scope stays capped


def test_list_query_count_does_not_grow_with_rows(admin_user, rep_north, django_assert_max_num_queries):
    acme = make("Acme", kind="organization")
    tag = Tag.objects.create(name="vip")
    for i in range(30):
        make(f"C{i}", rep_north, company=acme).tags.add(tag)
    # filters (custom field definitions) + page + tags prefetch
    with django_assert_max_num_queries(3):
        rows, _ = customer_list(user=admin_user, limit=25)
        for row in rows:
            _ = (row.owner and row.owner.username, row.team and row.team.name,
                 row.company and row.company.name, [t.name for t in row.tags.all()])


@pytest.mark.parametrize("sort", ["name", "-created", "id"])
def test_value_batches_match_list_order_across_ties(admin_user, rep_north, sort):
    from valuecrm.customers.selectors import customer_value_batches

    tz = timezone.get_current_timezone()
    for i in range(17):
        make(f"Name {i % 3}", rep_north if i % 2 else None,
             created_at=datetime.datetime(2024, 1, 1 + i % 4, tzinfo=tz))
    expected = [c.pk for c in customer_list(user=admin_user, sort=sort, limit=100)[0]]
    batches = list(customer_value_batches(user=admin_user, fields=("name",), sort=sort, batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 4, 4, 1]
    assert [row["id"] for batch in batches for row in batch] == expected
    mine = [row["id"] for batch in customer_value_batches(user=rep_north, fields=(), sort=sort)
            for row in batch]
    assert sorted(mine) == sorted(c.pk for c in Customer.objects.filter(owner=rep_north))
