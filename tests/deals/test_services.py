from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.deals import selectors, services
from valuecrm.deals.models import Deal, DealStageLog, LostReason


def test_pipeline_needs_open_won_and_lost_stages(admin_user):
    with pytest.raises(ValidationFailed) as exc:
        services.pipeline_create(actor=admin_user, name="X", stages=[{"name": "Only"}])
    assert list(exc.value.errors) == ["stages"]


def test_only_admins_create_pipelines(rep_north):
    with pytest.raises(PermissionDenied):
        services.pipeline_create(actor=rep_north, name="X", stages=[])


def test_create_starts_in_first_open_stage_and_logs_it(rep_north, north_customer, make_deal, stages):
    deal = make_deal(rep_north, north_customer, amount="1200.50")
    assert deal.stage_id == stages["Qualified"].pk
    assert deal.amount == Decimal("1200.50") and deal.currency == "CNY"
    assert deal.owner_id == rep_north.pk and deal.team_id == rep_north.team_id
    log = list(DealStageLog.objects.filter(deal=deal).values_list("from_stage_id", "to_stage_id"))
    assert log == [(None, stages["Qualified"].pk)]
    assert OutboxEvent.objects.filter(name="deal.created").count() == 1


def test_bad_input_names_fields_and_writes_nothing(rep_north, north_customer, pipeline):
    with pytest.raises(ValidationFailed) as exc:
        services.deal_create(actor=rep_north, data={"customer_id": north_customer.pk, "pipeline_id": pipeline.pk,
                                                    "name": "", "amount": "-3", "currency": "yuan",
                                                    "probability": 2, "bogus": 1})
    assert set(exc.value.errors) == {"name", "amount", "currency", "probability", "bogus"}
    assert Deal.objects.count() == 0 and DealStageLog.objects.count() == 0


def test_cannot_create_a_deal_for_an_invisible_customer(rep_north, south_customer, pipeline):
    with pytest.raises(ValidationFailed) as exc:
        services.deal_create(actor=rep_north, data={"customer_id": south_customer.pk, "name": "x",
                                                    "pipeline_id": pipeline.pk})
    assert list(exc.value.errors) == ["customer_id"]


def test_stage_log_gives_exact_cycle_and_time_in_stage(rep_north, north_customer, make_deal, stages):
    t0 = timezone.now()
    deal = make_deal(rep_north, north_customer)
    DealStageLog.objects.filter(deal=deal).update(changed_at=t0)
    services.deal_move_stage(actor=rep_north, deal=deal, stage_id=stages["Proposal"].pk,
                             when=t0 + timedelta(days=3, hours=12))
    services.deal_move_stage(actor=rep_north, deal=deal, stage_id=stages["Won"].pk, when=t0 + timedelta(days=10))
    log = selectors.stage_log(user=rep_north, deal_id=deal.pk)
    assert [(r.from_stage_id, r.to_stage_id) for r in log] == [
        (None, stages["Qualified"].pk), (stages["Qualified"].pk, stages["Proposal"].pk),
        (stages["Proposal"].pk, stages["Won"].pk)]
    assert all(r.changed_by_id == rep_north.pk for r in log)
    assert selectors.cycle_days(log) == 10.0
    assert [(s.name, d) for s, d in selectors.time_in_stages(log)] == [("Qualified", 3.5), ("Proposal", 6.5)]
    deal.refresh_from_db()
    assert deal.status == "won" and deal.closed_at == t0 + timedelta(days=10) and deal.forecast_category == "closed"
    names = list(OutboxEvent.objects.filter(name__startswith="deal.").order_by("seq").values_list("name", flat=True))
    assert names == ["deal.created", "deal.stage_changed", "deal.stage_changed", "deal.won"]


def test_lost_needs_a_reason(rep_north, north_customer, make_deal, stages):
    deal = make_deal(rep_north, north_customer)
    with pytest.raises(ValidationFailed) as exc:
        services.deal_move_stage(actor=rep_north, deal=deal, stage_id=stages["Lost"].pk)
    assert list(exc.value.errors) == ["lost_reason_id"]
    assert DealStageLog.objects.filter(deal=deal).count() == 1
    reason = LostReason.objects.get(name="Price too high")
    lost = services.deal_move_stage(actor=rep_north, deal=deal, stage_id=stages["Lost"].pk, lost_reason_id=reason.pk)
    assert lost.status == "lost" and lost.lost_reason_id == reason.pk
    assert OutboxEvent.objects.filter(name="deal.lost").count() == 1


def test_stage_of_another_pipeline_is_refused(admin_user, rep_north, north_customer, make_deal):
    other = services.pipeline_create(actor=admin_user, name="Other", stages=[
        {"name": "A"}, {"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}])
    deal = make_deal(rep_north, north_customer)
    with pytest.raises(ValidationFailed) as exc:
        services.deal_move_stage(actor=rep_north, deal=deal, stage_id=other.stages.first().pk)
    assert list(exc.value.errors) == ["stage_id"]


def test_read_only_cannot_move_and_others_cannot_see(make_user, team_north, rep_north, rep_south, north_customer,
                                                      make_deal, stages):
    deal = make_deal(rep_north, north_customer)
    viewer = make_user("viewer", role="read_only", team=team_north)
    with pytest.raises(PermissionDenied):
        services.deal_move_stage(actor=viewer, deal=deal, stage_id=stages["Proposal"].pk)
    with pytest.raises(NotFound):
        services.deal_move_stage(actor=rep_south, deal=deal, stage_id=stages["Proposal"].pk)
    assert Deal.objects.get(pk=deal.pk).stage_id == stages["Qualified"].pk


def test_won_deal_creates_its_order_once(rep_north, north_customer, make_deal, stages):
    from valuecrm.orders.models import Order

    deal = make_deal(rep_north, north_customer, amount="5000",
                     lines=[{"name": "License", "quantity": "2", "unit_price": "2500"}])
    with pytest.raises(ValidationFailed):
        services.deal_create_order(actor=rep_north, deal=deal)
    services.deal_move_stage(actor=rep_north, deal=deal, stage_id=stages["Won"].pk)
    order, created = services.deal_create_order(actor=rep_north, deal=deal)
    again, created_again = services.deal_create_order(actor=rep_north, deal=deal)
    assert created is True and created_again is False and again.pk == order.pk
    assert Order.objects.filter(source="deal", external_id=str(deal.pk)).count() == 1
    assert order.total_amount == Decimal("5000.00") and order.customer_id == north_customer.pk
    assert Deal.objects.get(pk=deal.pk).order_id == order.pk


def test_manual_probability_is_kept_beside_the_prediction(rep_north, north_customer, make_deal):
    deal = make_deal(rep_north, north_customer, probability=0.8)
    Deal.objects.filter(pk=deal.pk).update(predicted_probability=0.2)
    deal.refresh_from_db()
    assert (deal.probability, deal.predicted_probability, deal.effective_probability) == (0.8, 0.2, 0.8)
    cleared = services.deal_update(actor=rep_north, deal=deal, data={"probability": None})
    assert cleared.probability is None and cleared.effective_probability == 0.2


def test_rep_cannot_give_a_deal_to_someone_else(rep_north, rep_south, north_customer, make_deal):
    deal = make_deal(rep_north, north_customer)
    with pytest.raises(PermissionDenied) as exc:
        services.deal_update(actor=rep_north, deal=deal, data={"owner_id": rep_south.pk})
    assert list(exc.value.errors) == ["owner_id"]


def test_update_that_changes_nothing_emits_nothing(rep_north, north_customer, make_deal):
    deal = make_deal(rep_north, north_customer, name="Same")
    before = OutboxEvent.objects.count()
    services.deal_update(actor=rep_north, deal=deal, data={"name": "Same"})
    assert OutboxEvent.objects.count() == before
