from datetime import timedelta

import pytest
from django.utils import timezone

from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.customers.models import Customer
from valuecrm.deals import pool, services
from valuecrm.deals.models import PoolMove, PoolRule


@pytest.fixture
def pooled(admin_user):
    from valuecrm.customers.services import customer_create

    return [customer_create(actor=admin_user, data={"name": f"公海客户{i}", "owner_id": None}) for i in range(4)]


def test_claim_takes_ownership_through_the_customer_service(rep_north, pooled):
    move = services.pool_claim(actor=rep_north, customer_id=pooled[0].pk)
    c = Customer.objects.get(pk=pooled[0].pk)
    assert c.owner_id == rep_north.pk and c.team_id == rep_north.team_id
    assert move.kind == "claimed" and move.user_id == rep_north.pk
    names = set(OutboxEvent.objects.values_list("name", flat=True))
    assert {"pool.claimed", "customer.owner_changed"} <= names
    assert c.history.first().owner_id == rep_north.pk  # the change is in the customer's history


def test_daily_cap_per_role(admin_user, rep_north, pooled):
    services.claim_cap_set(actor=admin_user, role="sales_rep", per_day=2)
    services.pool_claim(actor=rep_north, customer_id=pooled[0].pk)
    services.pool_claim(actor=rep_north, customer_id=pooled[1].pk)
    with pytest.raises(PermissionDenied) as exc:
        services.pool_claim(actor=rep_north, customer_id=pooled[2].pk)
    assert list(exc.value.errors) == ["customer_id"]
    assert Customer.objects.get(pk=pooled[2].pk).owner_id is None
    # The next day the cap is fresh again.
    tomorrow = timezone.now() + timedelta(days=1)
    services.pool_claim(actor=rep_north, customer_id=pooled[2].pk, now=tomorrow)
    assert Customer.objects.get(pk=pooled[2].pk).owner_id == rep_north.pk


def test_owned_customer_is_not_in_the_pool(rep_north, rep_south, north_customer):
    with pytest.raises(NotFound):
        services.pool_claim(actor=rep_south, customer_id=north_customer.pk)


def test_release_needs_a_reason_and_goes_back(rep_north, north_customer):
    with pytest.raises(ValidationFailed) as exc:
        services.pool_release(actor=rep_north, customer_id=north_customer.pk, reason="  ")
    assert list(exc.value.errors) == ["reason"]
    services.pool_release(actor=rep_north, customer_id=north_customer.pk, reason="Not a fit")
    assert Customer.objects.get(pk=north_customer.pk).owner_id is None
    assert PoolMove.objects.get(kind="released").reason == "Not a fit"
    assert OutboxEvent.objects.filter(name="pool.released").count() == 1


def test_support_agent_cannot_claim(make_user, pooled):
    agent = make_user("agent", role="support_agent")
    with pytest.raises(PermissionDenied):
        services.pool_claim(actor=agent, customer_id=pooled[0].pk)


def _age(customer, days):
    Customer.objects.filter(pk=customer.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_reclaim_schedule_with_time_travel_and_countdown_reset(rep_north, north_customer):
    from valuecrm.customers.services import interaction_create

    PoolRule.objects.create(tier="", stage="", days=30)
    _age(north_customer, 0)
    now = timezone.now()
    c = pool.countdown_for(north_customer, now=now)
    assert (c.days_allowed, c.days_left, c.urgent) == (30, 30, False)
    assert pool.countdown_for(north_customer, now=now + timedelta(days=28)).urgent is True
    # Day 29: not yet; day 30: reclaimed.
    assert services.pool_sweep(now=now + timedelta(days=29, hours=23)) == {"reclaimed": 0, "warned": 0}
    # A follow-up logged on day 20 resets the countdown.
    interaction_create(actor=rep_north, customer=north_customer, kind="call", occurred_at=now + timedelta(days=20))
    assert pool.countdown_for(north_customer, now=now + timedelta(days=30)).days_left == 20
    assert services.pool_sweep(now=now + timedelta(days=30)) == {"reclaimed": 0, "warned": 0}
    assert services.pool_sweep(now=now + timedelta(days=50, minutes=1)) == {"reclaimed": 1, "warned": 0}
    assert Customer.objects.get(pk=north_customer.pk).owner_id is None
    move = PoolMove.objects.get(kind="reclaimed")
    assert move.from_owner_id == rep_north.pk
    assert OutboxEvent.objects.filter(name="pool.reclaimed").count() == 1


def test_tier_a_warns_instead_of_reclaiming(rep_north, north_customer):
    from valuecrm.insights.models import CustomerValue

    CustomerValue.objects.create(customer=north_customer, as_of=timezone.localdate(), tier="A")
    PoolRule.objects.create(tier="", stage="", days=10)
    PoolRule.objects.create(tier="A", stage="", days=10, warn_only=True)
    later = timezone.now() + timedelta(days=11)
    assert services.pool_sweep(now=later) == {"reclaimed": 0, "warned": 1}
    assert services.pool_sweep(now=later + timedelta(days=1)) == {"reclaimed": 0, "warned": 0}  # once per quiet spell
    assert Customer.objects.get(pk=north_customer.pk).owner_id == rep_north.pk
    assert OutboxEvent.objects.filter(name="pool.reclaim_warned").count() == 1


def test_most_specific_rule_wins():
    rules = {("", ""): "default", ("A", ""): "tier", ("", "new"): "stage", ("A", "new"): "both"}
    assert pool.rule_for(rules, "A", "new") == "both"
    assert pool.rule_for(rules, "A", "loyal") == "tier"
    assert pool.rule_for(rules, "B", "new") == "stage"
    assert pool.rule_for(rules, "C", "loyal") == "default"
    assert pool.rule_for({}, "A", "new") is None


def test_rules_are_for_admins(rep_north, admin_user):
    with pytest.raises(PermissionDenied):
        services.pool_rule_save(actor=rep_north, days=10)
    with pytest.raises(ValidationFailed) as exc:
        services.pool_rule_save(actor=admin_user, tier="Z", days=0)
    assert set(exc.value.errors) == {"tier", "days"}


def _actors(name):
    return list(OutboxEvent.objects.filter(name=name).values_list("actor_kind", "actor_user_id"))


def test_a_claim_and_a_release_are_recorded_as_the_user_who_acted(rep_north, pooled):
    customer_id = pooled[0].pk
    services.pool_claim(actor=rep_north, customer_id=customer_id)
    services.pool_release(actor=rep_north, customer_id=customer_id, reason="Moved abroad")

    history = list(Customer.objects.get(pk=customer_id).history.order_by("history_date", "history_id")
                   .values_list("owner_id", "history_user_id"))
    # created by the admin into the pool, claimed by the rep, released by the rep
    assert history[1:] == [(rep_north.pk, rep_north.pk), (None, rep_north.pk)]
    assert list(PoolMove.objects.order_by("at", "id").values_list("kind", "user_id", "from_owner_id")) == [
        ("claimed", rep_north.pk, None), ("released", rep_north.pk, rep_north.pk)]
    for name in ("pool.claimed", "pool.released"):
        assert _actors(name) == [("user", rep_north.pk)]
    assert _actors("customer.owner_changed") == [("user", rep_north.pk), ("user", rep_north.pk)]
    # The system account only did the writing; nothing is recorded in its name.
    pool_account = services.pool_actor()
    assert not OutboxEvent.objects.filter(actor_user_id=pool_account.pk).exists()


def test_a_reclaim_by_the_sweep_is_recorded_as_the_system_pool(rep_north, north_customer):
    PoolRule.objects.create(tier="", stage="", days=5)
    assert services.pool_sweep(now=timezone.now() + timedelta(days=6)) == {"reclaimed": 1, "warned": 0}

    pool_account = services.pool_actor()
    last = Customer.objects.get(pk=north_customer.pk).history.order_by("-history_date", "-history_id").first()
    assert (last.owner_id, last.history_user_id) == (None, pool_account.pk)
    move = PoolMove.objects.get()
    assert (move.kind, move.user_id, move.from_owner_id) == ("reclaimed", None, rep_north.pk)
    assert _actors("pool.reclaimed") == [("user", pool_account.pk)]
    assert _actors("customer.owner_changed") == [("user", pool_account.pk)]
    assert not OutboxEvent.objects.filter(actor_user_id=rep_north.pk, name__startswith="pool.").exists()
