"""Deals fixtures: a pipeline with stages, customers owned by the north rep and the south rep."""

import pytest


@pytest.fixture
def pipeline(admin_user):
    from valuecrm.deals.services import pipeline_create

    return pipeline_create(actor=admin_user, name="B2B", name_zh="企业", stages=[
        {"name": "Qualified", "name_zh": "已确认", "probability": 0.1, "rotting_days": 10},
        {"name": "Proposal", "name_zh": "方案", "probability": 0.4},
        {"name": "Negotiation", "name_zh": "谈判", "probability": 0.7},
        {"name": "Won", "name_zh": "赢单", "kind": "won"},
        {"name": "Lost", "name_zh": "输单", "kind": "lost"},
    ])


@pytest.fixture
def stages(pipeline):
    return {s.name: s for s in pipeline.stages.all()}


@pytest.fixture
def north_customer(rep_north):
    from valuecrm.customers.services import customer_create

    return customer_create(actor=rep_north, data={"name": "北方贸易"})


@pytest.fixture
def south_customer(rep_south):
    from valuecrm.customers.services import customer_create

    return customer_create(actor=rep_south, data={"name": "南方百货"})


@pytest.fixture
def make_deal(pipeline):
    from valuecrm.deals.services import deal_create

    def _make(actor, customer, **data):
        return deal_create(actor=actor, data={"customer_id": customer.pk, "pipeline_id": pipeline.pk,
                                              "name": data.pop("name", "Deal"), **data})

    return _make
