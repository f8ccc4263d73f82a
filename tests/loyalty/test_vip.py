import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from valuecrm.loyalty import selectors, services

pytestmark = pytest.mark.django_db


def test_vip_list_is_value_tier_a_and_top_tier_members_with_overdue_care(program, customer, admin_user, client):
    from valuecrm.customers.models import Interaction
    from valuecrm.insights.models import CustomerValue

    black, valued, plain = customer("黑金"), customer("A 客户"), customer("普通")
    services.tier_set(actor=admin_user, customer_id=black.pk, tier_code="black")
    CustomerValue.objects.create(customer=valued, as_of=timezone.localdate(), tier="A")
    Interaction.objects.create(customer=valued, kind="call", occurred_at=timezone.now() - dt.timedelta(days=3))
    Interaction.objects.create(customer=black, kind="call", occurred_at=timezone.now() - dt.timedelta(days=45))
    rows = selectors.vip_list(user=admin_user)
    assert [(r.customer.name, r.overdue) for r in rows] == [("黑金", True), ("A 客户", False)]
    assert plain.pk not in {r.customer.pk for r in rows}
    assert [r.customer.name for r in selectors.vip_list(user=admin_user, overdue_only=True)] == ["黑金"]
    client.force_login(admin_user)
    html = client.get(reverse("loyalty-vip") + "?overdue=yes").content.decode()
    assert html.count('data-overdue="yes"') == 1


def test_dashboard_figures(program, customer, admin_user, place_order):
    c = customer()
    place_order(c, "100", placed_at=timezone.now() - dt.timedelta(days=350))  # lot expires in ~15 days
    services.escrow_release()
    services.points_redeem(actor=admin_user, customer_id=c.pk, points=40, reference="r")
    f = selectors.dashboard(user=admin_user)
    assert (f["members"], f["liability_points"], f["expiring_members"], f["expiring_points"]) == (1, 60, 1, 60)
    assert f["redemption_rate"] == 0.4
    assert [t["members"] for t in f["tiers"]] == [1, 0, 0, 0]


def test_kpi_cards_on_the_value_dashboard(program, customer, admin_user, place_order):
    from valuecrm.customers.extensions import registry

    c = customer()
    place_order(c, "500", placed_at=timezone.now() - dt.timedelta(days=10))
    services.escrow_release()
    today = timezone.localdate()
    cards = {card["key"]: card for card in registry.kpi_card_figures(admin_user, today - dt.timedelta(days=30),
                                                                    today)}
    assert (cards["loyalty_liability"]["value"], cards["loyalty_liability"]["kind"]) == (Decimal("5.00"), "money")
    assert (cards["loyalty_referral_rate"]["value"], cards["loyalty_referral_rate"]["kind"]) == (0.0, "percent")


def test_the_default_vip_care_rule_gives_one_care_task_per_cadence(program, customer, admin_user, rep_north,
                                                                   monkeypatch):
    """Schedule fires → a care task for the care owner; fires again the same day, the next day
    → no second task; after the cadence, still untouched → the next one."""
    from valuecrm.automation import schedules
    from valuecrm.automation.models import Rule, Run, RunStatus
    from valuecrm.customers.models import Interaction, Task
    from valuecrm.insights.models import CustomerValue
    from valuecrm.loyalty.defaults import VIP_CARE_RULE_KEY
    from valuecrm.loyalty.models import CareReminder

    rule = Rule.objects.get(system_key=VIP_CARE_RULE_KEY)  # seeded by the migration, on
    assert (rule.enabled, rule.trigger) == (True, {"schedule": {"cron": "0 9 * * *"}})
    nine = timezone.make_aware(dt.datetime(2026, 12, 8, 9, 0))  # 09:00 in the site's time zone
    tick = dt.timedelta(seconds=20)  # the minute's tick; a firing acts as of its scheduled minute
    clock = [nine]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])

    def fire(after: dt.timedelta) -> int:
        clock[0] = nine + after + tick
        return schedules.fire_due(now=clock[0])

    black, valued, plain = (customer(n, owner_id=rep_north.pk) for n in ("黑金", "A 客户", "普通"))
    services.tier_set(actor=admin_user, customer_id=black.pk, tier_code="black")
    CustomerValue.objects.create(customer=valued, as_of=nine.date(), tier="A")
    Interaction.objects.create(customer=valued, kind="call", occurred_at=nine - dt.timedelta(days=3))
    Interaction.objects.create(customer=black, kind="call", occurred_at=nine - dt.timedelta(days=45))
    Interaction.objects.create(customer=plain, kind="call", occurred_at=nine - dt.timedelta(days=90))

    assert fire(dt.timedelta(0)) == 1
    task = Task.objects.get()
    assert (task.customer_id, task.assignee_id, task.title) == (black.pk, rep_north.pk,
                                                              "VIP care: get in touch with 黑金")
    assert task.description == (f"A VIP gets a touch every 30 days; last touch "
                                f"{(nine - dt.timedelta(days=45)).date().isoformat()}.")
    assert task.due_at == nine + dt.timedelta(days=2)
    # The tick runs again over the same minute: the same firing, no second task.
    Rule.objects.filter(pk=rule.pk).update(last_fired_at=nine - dt.timedelta(minutes=1))
    fire(tick)
    # The next day: still overdue, but reminded within the cadence.
    fire(dt.timedelta(days=1))
    assert Task.objects.count() == 1
    assert Run.objects.filter(rule=rule, status=RunStatus.SUCCEEDED).count() == 1
    # 31 days on, still nobody got in touch: the next care task (and the A customer's first,
    # whose touch is now 34 days old).
    assert fire(dt.timedelta(days=31)) == 2
    later = nine + dt.timedelta(days=31)
    assert list(CareReminder.objects.order_by("pk").values_list("customer_id", "created_at")) == [
        (black.pk, nine), (black.pk, later), (valued.pk, later)]
    # A touch logged: not due any more.
    Interaction.objects.create(customer=black, kind="visit", occurred_at=nine + dt.timedelta(days=40))
    fire(dt.timedelta(days=62))
    assert Task.objects.filter(customer=black).count() == 2
