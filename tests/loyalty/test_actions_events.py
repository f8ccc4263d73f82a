import inspect

import pytest

from valuecrm.common.actions import ActionContext, action_class, no_writes
from valuecrm.common.errors import ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.loyalty import services
from valuecrm.loyalty.models import Account, Entry

pytestmark = pytest.mark.django_db


def _ctx(customer, actor=None):
    return ActionContext(rule_id=1, rule_name="r", event_name="customer.tagged", event_id="e" * 32,
                         customer_id=customer.pk, facts={}, actor=actor)


def test_the_three_actions_plan_without_writing_and_apply_through_the_services(program, customer, admin_user):
    c = customer()
    award = action_class("award_points")(action_class("award_points").clean({"points": 88, "reason": "回购奖励"}))
    enrol = action_class("enrol_loyalty")({})
    tier = action_class("set_membership_tier")(action_class("set_membership_tier").clean({"tier": "gold",
                                                                                          "days": 30}))
    with no_writes():
        plans = [a.plan(_ctx(c)).summary for a in (enrol, award, tier)]
    assert plans == ["Enrol in the loyalty programme", "Award 88 points (回购奖励)",
                     "Set the membership tier to gold (a floor)"]
    assert enrol.apply(_ctx(c, admin_user)).changes == {"enrol": True}
    assert award.apply(_ctx(c, admin_user)).summary == "Awarded 88 points"
    assert tier.apply(_ctx(c, admin_user)).summary == "Membership tier is gold"
    account = Account.objects.select_related("tier").get(customer=c)
    assert (account.balance, account.tier.code) == (88, "gold")
    assert Entry.objects.get().reason == "回购奖励"
    with pytest.raises(ValidationFailed) as exc:
        action_class("set_membership_tier").clean({"tier": "platinum"})
    assert exc.value.errors == {"tier": ["Not a valid choice."]}


# Public service functions that are not business writes, with the reason.
NOT_A_BUSINESS_WRITE = {
    "order_points": "computes points (read)", "order_changed": "dispatches to order_earn/order_reverse (covered)",
    "orders_changed": "the batch order_earn, emits points_earned (tests/loyalty/test_batch_earn.py)",
    "nightly": "runs escrow_release, points_expire and tiers_review_all (covered)",
    "tiers_review_all": "loops tier_review (covered)",
}


def test_every_public_loyalty_write_emits(program, customer, admin_user, place_order, set_status):
    import datetime as dt

    from django.utils import timezone

    names = {n for n, f in inspect.getmembers(services, inspect.isfunction)
             if not n.startswith("_") and f.__module__ == services.__name__} - set(NOT_A_BUSINESS_WRITE)
    emitted = {}

    def run(name, call):
        before = OutboxEvent.objects.count()
        call()
        emitted[name] = OutboxEvent.objects.count() > before

    ann, bob = customer("Ann"), customer("Bob")
    run("program_update", lambda: services.program_update(actor=admin_user, data={"escrow_days": 7}))
    run("account_enrol", lambda: services.account_enrol(actor=admin_user, customer_id=ann.pk))
    code = Account.objects.get(customer=ann).referral_code
    run("referral_register", lambda: services.referral_register(actor=admin_user, customer_id=bob.pk, code=code))
    order = place_order(bob, "300", placed_at=timezone.now() - dt.timedelta(days=10))
    run("order_earn", lambda: None)  # the earn ran in place_order; checked below
    emitted["order_earn"] = OutboxEvent.objects.filter(name="loyalty.points_earned").exists()
    from valuecrm.orders.models import Order

    Order.objects.create(customer=ann, external_id="IMP-1", status="paid", total_amount=40)  # as an import writes
    run("orders_imported", lambda: services.orders_imported(run_id=1))
    assert OutboxEvent.objects.get(name="loyalty.points_earned_in_bulk").payload["points"] == 40
    run("escrow_release", lambda: services.escrow_release())
    run("points_adjust", lambda: services.points_adjust(actor=admin_user, customer_id=bob.pk, points=5,
                                                        reason="x"))
    run("points_redeem", lambda: services.points_redeem(actor=admin_user, customer_id=bob.pk, points=5,
                                                        reference="r"))
    run("tier_set", lambda: services.tier_set(actor=admin_user, customer_id=bob.pk, tier_code="gold"))
    run("tier_review", lambda: services.tier_set(actor=admin_user, customer_id=bob.pk, tier_code="") and
        services.tier_review(account_id=Account.objects.get(customer=bob).pk,
                             now=timezone.now() + dt.timedelta(days=400)))
    emitted["tier_review"] = OutboxEvent.objects.filter(name="loyalty.tier_changed").exists()
    run("order_reverse", lambda: set_status(order, "refunded"))
    run("points_expire", lambda: services.points_adjust(actor=admin_user, customer_id=ann.pk, points=9,
                                                        reason="x") and services.points_expire(
        now=timezone.now() + dt.timedelta(days=800)))
    services.tier_set(actor=admin_user, customer_id=ann.pk, tier_code="black")  # a VIP, never touched
    run("vip_care_remind", lambda: services.vip_care_remind(actor=admin_user, customer_id=ann.pk))
    assert OutboxEvent.objects.filter(name="loyalty.points_expired").exists()
    assert OutboxEvent.objects.filter(name="referral.rewarded").exists()
    assert OutboxEvent.objects.filter(name="task.created").count() == 1
    assert set(emitted) == names
    assert all(emitted.values()), emitted
