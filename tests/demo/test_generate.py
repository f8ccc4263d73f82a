"""The demo generator: deterministic, complete and with buy-till-you-die signal."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import phonenumbers
import pytest
from django.db import transaction
from django.db.models import Count, F, Sum
from typer.testing import CliRunner

from valuecrm.accounts.models import User
from valuecrm.accounts.roles import Role
from valuecrm.customers.models import (
    Customer,
    CustomerKind,
    CustomFieldDefinition,
    Interaction,
    InteractionKind,
    Note,
    Task,
)
from valuecrm.demo.generate import WINDOW_DAYS, demo_generate
from valuecrm.orders.models import Order, OrderLine, Product

NOW = datetime(2026, 3, 15, 6, 30, tzinfo=UTC)  # 14:30 in Asia/Shanghai


def _orders():
    """The generator's purchase history (source "demo"); won deals and campaign conversions
    add orders of their own sources, which these shape tests are not about."""
    return Order.objects.filter(source="demo")


def _lines():
    return OrderLine.objects.filter(order__source="demo")


def _snapshot():
    customers = list(Customer.objects.order_by("id").values_list(
        "id", "name", "email", "phone", "kind", "company_id", "owner__username", "acquired_at"))
    orders = list(_orders().order_by("id").values_list(
        "customer_id", "placed_at", "status", "total_amount", "total_cost"))
    return customers, orders


def _generate_and_roll_back(seed):
    with transaction.atomic():
        demo_generate(customers=200, seed=seed, now=NOW)
        snapshot = _snapshot()
        transaction.set_rollback(True)
    return snapshot


@pytest.fixture(scope="module")
def _demo_300_for_module(django_db_setup, django_db_blocker):
    """One 300-customer demo per module (and xdist worker), rolled back at the end: the
    tests that read it only read, and generating it per test cost ~30 s each."""
    with django_db_blocker.unblock():
        with transaction.atomic():
            yield demo_generate(customers=300, seed=7, now=NOW)
            transaction.set_rollback(True)


@pytest.fixture
def demo_300(_demo_300_for_module, db):
    return _demo_300_for_module


def test_same_seed_gives_identical_data_and_another_seed_does_not(db):
    first = _generate_and_roll_back(3)
    second = _generate_and_roll_back(3)
    other = _generate_and_roll_back(4)

    assert Customer.objects.count() == 0
    assert len(first[0]) == 200 and len(first[1]) > 200
    assert first == second
    assert [c[1] for c in first[0]] != [c[1] for c in other[0]]


def test_purchase_behaviour_has_btyd_signal(db):
    demo_generate(customers=1500, seed=11, now=NOW, operations=False)  # the population only
    buyers = Customer.objects.filter(company__isnull=True).annotate(n=Count("orders"))
    counts = list(buyers.values_list("n", flat=True))
    with_orders = [n for n in counts if n >= 1]
    repeat_share = sum(n >= 2 for n in with_orders) / len(with_orders)
    prospect_share = 1 - len(with_orders) / len(counts)
    assert 0.5 <= repeat_share <= 0.95
    assert 0.1 <= prospect_share <= 0.35
    # Heterogeneity: the busiest decile orders far more than the median buyer.
    with_orders.sort()
    assert with_orders[int(0.9 * len(with_orders))] >= 3 * with_orders[len(with_orders) // 2]


def test_cli_if_empty_is_a_no_op_the_second_time(db):
    from valuecrm.cli import app

    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--customers", "40", "--seed", "1", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert Customer.objects.count() == 40
    second = runner.invoke(app, ["demo", "--customers", "40", "--seed", "1", "--if-empty"])
    assert second.exit_code == 0, second.output
    assert "already exist" in second.output
    assert Customer.objects.count() == 40


# The tests below read the module's one demo (demo_300). They come last: the demo stays in
# the database until the module ends, and the tests above need an empty one.


def test_counts_and_population_shape(demo_300):
    assert demo_300.customers == Customer.objects.count() == 300
    orgs = Customer.objects.filter(kind=CustomerKind.ORGANIZATION)
    assert orgs.count() == demo_300.organisations == 45
    # Every organisation has 1–4 contact persons linked through `company`.
    contacts_per_org = sorted(orgs.annotate(n=Count("contacts")).values_list("n", flat=True))
    assert contacts_per_org[0] >= 1 and contacts_per_org[-1] <= 4
    assert Customer.objects.filter(company__isnull=False).count() == demo_300.contacts
    assert not Customer.objects.filter(company__isnull=False, kind=CustomerKind.ORGANIZATION).exists()
    assert _orders().count() == demo_300.orders
    assert _lines().count() == demo_300.order_lines
    assert set(Customer.objects.values_list("source", flat=True)) == {"demo"}
    assert Customer.objects.values("external_id").distinct().count() == 300
    assert set(CustomFieldDefinition.objects.values_list("key", flat=True)) == {
        "membership_no", "preferred_store"}
    assert Customer.objects.filter(custom_fields__has_key="membership_no").exists()
    # The timeline uses every interaction kind, in both languages.
    assert set(Interaction.objects.values_list("kind", flat=True)) == set(InteractionKind.values)
    subjects = list(Interaction.objects.values_list("subject", flat=True))
    assert any(s.isascii() for s in subjects) and any(not s.isascii() for s in subjects)
    assert Note.objects.count() == demo_300.notes > 0


def test_users_cover_every_role_but_admin_is_left_to_createadmin(demo_300):
    users = User.objects.all()
    # 5–8 from the generator, plus the service demo's second support agent (zhao.min).
    assert 6 <= users.count() <= 9 and users.filter(username="zhao.min").exists()
    assert not users.filter(username="admin").exists()
    assert set(users.values_list("role", flat=True)) == {r.value for r in Role} - {Role.ADMIN}
    # The generator's 2–3 sales teams, plus the service demo's support team (客服一组) for the agents
    # who had none.
    assert users.exclude(team=None).values("team").distinct().count() in (2, 3, 4)
    assert Customer.objects.filter(owner__isnull=False).count() > 150
    assert Customer.objects.filter(owner__isnull=True).exists()  # the shared pool


def test_every_customer_phone_is_valid_e164(demo_300):
    for name, phone in Customer.objects.values_list("name", "phone"):
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), (name, phone)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone


def test_order_totals_are_the_sum_of_their_lines(demo_300):
    line_sums = dict(
        _lines().values("order_id").annotate(total=Sum(F("quantity") * F("unit_price")),
                                                      cost=Sum(F("quantity") * F("unit_cost")))
        .values_list("order_id", "total")
    )
    orders = list(_orders().values_list("id", "total_amount"))
    assert len(line_sums) == len(orders)
    for order_id, total in orders:
        assert Decimal(line_sums[order_id]).quantize(Decimal("0.01")) == total


def test_catalogue_margins_between_20_and_60_percent(demo_300):
    products = list(Product.objects.all())
    assert len(products) == 60
    assert len({p.category for p in products}) >= 6
    for product in products:
        margin = (product.price - product.unit_cost) / product.price
        assert Decimal("0.195") <= margin <= Decimal("0.605"), product.sku


def test_orders_fall_in_the_window_and_some_are_cancelled_or_refunded(demo_300):
    assert not _orders().filter(placed_at__gt=NOW).exists()
    assert not _orders().filter(placed_at__lt=NOW - timedelta(days=WINDOW_DAYS)).exists()
    # No order before the customer was acquired.
    assert not _orders().filter(placed_at__lt=F("customer__acquired_at")).exists()
    total = _orders().count()
    bad = _orders().filter(status__in=["cancelled", "refunded"]).count()
    assert 0.01 * total <= bad <= 0.05 * total


def test_every_user_has_tasks_due_today_and_overdue(demo_300):
    today_start = datetime(2026, 3, 14, 16, 0, tzinfo=UTC)  # 00:00 on 15 March in Shanghai
    # The service demo's support agent works tickets, not follow-up tasks.
    for username in User.objects.exclude(username="zhao.min").values_list("username", flat=True):
        tasks = Task.objects.filter(assignee__username=username, done=False)
        assert tasks.filter(due_at__gte=today_start, due_at__lt=today_start + timedelta(days=1)).exists()
        assert tasks.filter(due_at__lt=today_start).exists()
