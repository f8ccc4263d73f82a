import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from valuecrm.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.loyalty import selectors, services
from valuecrm.loyalty.models import Account, Entry, EntryKind, Referral, ReferralStatus

pytestmark = pytest.mark.django_db


def _released(customer, place_order, amount, days_ago):
    order = place_order(customer, amount, placed_at=timezone.now() - dt.timedelta(days=days_ago))
    services.escrow_release()
    return order


def test_redeem_consumes_first_to_expire_first_and_expiry_takes_only_the_rest(program, customer, place_order,
                                                                             admin_user):
    c = customer()
    _released(c, place_order, "100", days_ago=400)  # lot A expires 35 days ago
    _released(c, place_order, "300", days_ago=20)   # lot B expires in 345 days
    # Lot A already expired before this expiry run? No run yet: redeem 60 takes from A first.
    services.points_redeem(actor=admin_user, customer_id=c.pk, points=60, reference="POS-1")
    assert services.points_expire() == 40
    assert services.points_expire() == 0  # idempotent
    account = Account.objects.get(customer=c)
    assert account.balance == 300
    assert selectors.ledger_sums(account.pk) == (300, 0)
    assert list(Entry.objects.filter(kind=EntryKind.EXPIRE).values_list("points", flat=True)) == [-40]


def test_expiring_in_30_days_is_what_fifo_leaves_of_the_soon_expiring_lots(program, customer, place_order,
                                                                          admin_user):
    c = customer()
    _released(c, place_order, "100", days_ago=350)  # expires in 15 days
    _released(c, place_order, "50", days_ago=10)
    services.points_redeem(actor=admin_user, customer_id=c.pk, points=30, reference="R")
    view = selectors.account_view(user=admin_user, customer_id=c.pk)
    assert (view.balance, view.expiring_30d) == (120, 70)


def test_redeem_is_idempotent_per_reference_and_refuses_overspending(program, customer, place_order, admin_user):
    c = customer()
    _released(c, place_order, "100", days_ago=10)
    first, created = services.points_redeem(actor=admin_user, customer_id=c.pk, points=70, reference="X")
    again, created_again = services.points_redeem(actor=admin_user, customer_id=c.pk, points=70, reference="X")
    assert (created, created_again, first.pk) == (True, False, again.pk)
    with pytest.raises(Conflict, match="different redemption"):
        services.points_redeem(actor=admin_user, customer_id=c.pk, points=10, reference="X")
    with pytest.raises(Conflict, match="Not enough points: 30 available"):
        services.points_redeem(actor=admin_user, customer_id=c.pk, points=31, reference="Y")
    assert Account.objects.get(customer=c).balance == 30


def test_redeem_minimum_and_maximum_share_of_the_order(admin_user, customer, place_order):
    services.program_update(actor=admin_user, data={"effective_from": dt.date(2020, 1, 1), "escrow_days": 0,
                                                    "redeem_min_points": 100, "point_value_cny": "0.1",
                                                    "redeem_max_share": "0.5", "first_order_bonus": 0})
    c = customer()
    place_order(c, "1000")
    with pytest.raises(ValidationFailed) as exc:
        services.points_redeem(actor=admin_user, customer_id=c.pk, points=99, reference="a")
    assert exc.value.errors == {"points": ["Redeem at least 100 points."]}
    with pytest.raises(ValidationFailed) as exc:  # 600 points = 60 CNY > 50 % of 100 CNY
        services.points_redeem(actor=admin_user, customer_id=c.pk, points=600, reference="b", order_total=100)
    assert exc.value.errors == {"points": ["Points may pay at most 50% of an order."]}


def test_adjust_needs_the_capability_and_a_reason(program, customer, make_user, admin_user, team_north):
    c = customer()
    rep = make_user("rep", role="sales_rep", team=team_north)
    with pytest.raises(PermissionDenied):
        services.points_adjust(actor=rep, customer_id=c.pk, points=10, reason="goodwill")
    with pytest.raises(ValidationFailed) as exc:
        services.points_adjust(actor=admin_user, customer_id=c.pk, points=10, reason="  ")
    assert exc.value.errors == {"reason": ["This field is required."]}
    entry = services.points_adjust(actor=admin_user, customer_id=c.pk, points=-25, reason="客诉补偿撤回")
    assert (entry.points, entry.reason, entry.created_by) == (-25, "客诉补偿撤回", admin_user)
    assert Account.objects.get(customer=c).balance == -25


def test_a_customer_the_user_cannot_see_is_not_found(program, customer, rep_south):
    c = customer()
    with pytest.raises(NotFound):
        services.points_redeem(actor=rep_south, customer_id=c.pk, points=5, reference="x")
    with pytest.raises(NotFound):
        selectors.account_view(user=rep_south, customer_id=c.pk)


def test_tiers_upgrade_at_once_downgrade_after_grace_and_a_manual_tier_is_a_floor(admin_user, customer,
                                                                                  place_order, event_recorder):
    services.program_update(actor=admin_user, data={"effective_from": dt.date(2020, 1, 1), "escrow_days": 0,
                                                    "first_order_bonus": 0, "tier_window_days": 365,
                                                    "tier_grace_days": 30})
    seen = event_recorder("loyalty.tier_changed")
    c = customer()
    place_order(c, "1200", placed_at=timezone.now() - dt.timedelta(days=300))
    account = Account.objects.select_related("tier").get(customer=c)
    assert account.tier.code == "silver"
    # 100 days later the order is outside the window: below silver, grace starts
    later = timezone.now() + dt.timedelta(days=100)
    assert services.tier_review(account_id=account.pk, now=later) is False
    assert services.tier_review(account_id=account.pk, now=later + dt.timedelta(days=29)) is False
    assert services.tier_review(account_id=account.pk, now=later + dt.timedelta(days=30)) is True
    account.refresh_from_db()
    assert account.tier.code == "standard"
    services.tier_set(actor=admin_user, customer_id=c.pk, tier_code="gold",
                      until=timezone.localdate() + dt.timedelta(days=10))
    account.refresh_from_db()
    assert (account.tier.code, account.override_tier.code) == ("gold", "gold")
    assert [(p["from_tier"], p["to_tier"], p["reason"]) for p in OutboxEvent.objects.filter(
        name="loyalty.tier_changed").order_by("seq").values_list("payload", flat=True)] == [
        ("standard", "silver", "qualified"), ("silver", "standard", "grace_ended"), ("standard", "gold", "override")]
    assert [e.event.to_tier for e in seen] == ["silver"]  # the one delivered in the order's commit


def test_referral_rewards_both_after_the_return_window_within_the_cap_and_claws_back(
        admin_user, customer, place_order, set_status):
    services.program_update(actor=admin_user, data={"effective_from": dt.date(2020, 1, 1), "escrow_days": 7,
                                                    "first_order_bonus": 0, "referral_referrer_points": 200,
                                                    "referral_referee_points": 100, "referral_monthly_cap": 1})
    ann = customer("Ann", email="ann@example.cn")
    place_order(ann, "10", placed_at=timezone.now() - dt.timedelta(days=30))
    code = Account.objects.get(customer=ann).referral_code
    with pytest.raises(ValidationFailed) as exc:
        services.referral_register(actor=admin_user, customer_id=customer("Ann again", email="ANN@example.cn").pk,
                                   code=code)
    assert exc.value.errors == {"code": ["A customer cannot refer themselves."]}
    bob, cat = customer("Bob"), customer("Cat")
    services.referral_register(actor=admin_user, customer_id=bob.pk, code=code.lower())
    services.referral_register(actor=admin_user, customer_id=cat.pk, code=code)
    with pytest.raises(Conflict):
        services.referral_register(actor=admin_user, customer_id=bob.pk, code=code)
    bob_order = place_order(bob, "300", placed_at=timezone.now() - dt.timedelta(days=1))
    place_order(cat, "300", placed_at=timezone.now() - dt.timedelta(days=1))
    services.escrow_release()
    assert Referral.objects.filter(status=ReferralStatus.REWARDED).count() == 0  # window open
    services.escrow_release(now=timezone.now() + dt.timedelta(days=7))
    # cap 1 a month: one rewarded, the other waits
    assert sorted(Referral.objects.values_list("status", flat=True)) == ["qualified", "rewarded"]
    rewarded = Referral.objects.get(status=ReferralStatus.REWARDED)
    assert rewarded.referee.customer_id == bob.pk  # the older referral goes first
    assert Entry.objects.filter(kind=EntryKind.REFERRAL, account=rewarded.referrer).get().points == 200
    assert selectors.ledger_sums(rewarded.referee.pk)[0] == 400  # Bob: 300 earned + 100 welcome
    assert selectors.referral_stats(ann.pk) == {"count": 1, "revenue": Decimal("300.00")}
    set_status(bob_order, "refunded")
    rewarded.refresh_from_db()
    assert rewarded.status == ReferralStatus.CLAWED_BACK
    assert selectors.ledger_sums(rewarded.referrer.pk)[0] == 10  # Ann's own order only
    assert selectors.ledger_sums(rewarded.referee.pk)[0] == 0
