from valuecrm.common.actions import ActionContext, action_class, no_writes
from valuecrm.deals.models import Deal


def _ctx(customer, **facts):
    from valuecrm.automation.engine import automation_actor

    return ActionContext(rule_id=1, rule_name="r", event_name="customer.tagged", event_id="e", customer_id=customer.pk,
                         facts={"customer": customer.name, **facts}, actor=automation_actor())


def test_create_deal_plans_without_writing_and_applies(north_customer, pipeline, rep_north):
    cls = action_class("create_deal")
    config = cls.clean({"pipeline": str(pipeline.pk), "name": "Renewal {customer}", "amount": "900"})
    action = cls(config)
    ctx = _ctx(north_customer)
    with no_writes():
        plan = action.plan(ctx)
    assert plan.changes == {"pipeline_id": pipeline.pk, "name": "Renewal 北方贸易"}
    out = action.apply(_ctx(north_customer))
    deal = Deal.objects.get(pk=out.changes["deal_id"])
    assert (deal.name, deal.amount, deal.owner_id) == ("Renewal 北方贸易", 900, rep_north.pk)


def test_move_stage_and_assign_to_pool(north_customer, make_deal, rep_north, stages):
    deal = make_deal(rep_north, north_customer)
    move = action_class("move_deal_stage")(action_class("move_deal_stage").clean({"stage": str(stages["Proposal"].pk)}))
    ctx = _ctx(north_customer, deal_id=deal.pk)
    with no_writes():
        assert move.plan(ctx).changes == {"deal_id": deal.pk,
                                                                            "stage_id": stages["Proposal"].pk}
    move.apply(_ctx(north_customer, deal_id=deal.pk))
    assert Deal.objects.get(pk=deal.pk).stage_id == stages["Proposal"].pk
    pool = action_class("assign_to_pool")({"reason": "quiet"})
    assert pool.apply(_ctx(north_customer)).changes == {"customer_id": north_customer.pk}
    north_customer.refresh_from_db()
    assert north_customer.owner_id is None
    assert pool.apply(_ctx(north_customer)).summary == "Already in the pool"
