"""Order and product reads: visibility through the customer, keyset pages."""

import pytest

from valuecrm.common.errors import NotFound, ValidationFailed
from valuecrm.customers.services import customer_create
from valuecrm.orders.selectors import order_get, order_list, product_list
from valuecrm.orders.services import order_create, product_create


def test_orders_are_visible_through_their_customer(rep_north, rep_south, manager_north, admin_user):
    north = customer_create(actor=rep_north, data={"name": "N"})
    south = customer_create(actor=rep_south, data={"name": "S"})
    n_order, _ = order_create(actor=rep_north, data={"customer_id": north.pk})
    s_order, _ = order_create(actor=rep_south, data={"customer_id": south.pk})

    assert [o.pk for o in order_list(user=rep_north)[0]] == [n_order.pk]
    assert [o.pk for o in order_list(user=manager_north)[0]] == [n_order.pk]
    assert {o.pk for o in order_list(user=admin_user)[0]} == {n_order.pk, s_order.pk}
    with pytest.raises(NotFound):
        order_get(user=rep_north, pk=s_order.pk)


def test_order_pages_do_not_skip_or_repeat_equal_timestamps(rep_north):
    customer = customer_create(actor=rep_north, data={"name": "N"})
    ids = [
        order_create(actor=rep_north, data={"customer_id": customer.pk,
                                            "placed_at": "2024-01-01T10:00:00"})[0].pk
        for _ in range(5)
    ]
    seen, cursor = [], None
    while True:
        rows, cursor = order_list(user=rep_north, after=cursor, limit=2)
        seen += [o.pk for o in rows]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_bad_cursor_and_limit_are_validation_errors(rep_north):
    with pytest.raises(ValidationFailed) as exc:
        order_list(user=rep_north, after="garbage")
    assert list(exc.value.errors) == ["cursor"]
    with pytest.raises(ValidationFailed):
        order_list(user=rep_north, limit=0)


def test_product_pages_by_sku(admin_user):
    for sku in ("C", "A", "B"):
        product_create(actor=admin_user, data={"sku": sku, "name": sku})
    first, cursor = product_list(limit=2)
    rest, end = product_list(after=cursor, limit=2)
    assert ([p.sku for p in first], [p.sku for p in rest], end) == (["A", "B"], ["C"], None)
