"""The demo data after scoring tells one story per customer: no unexplained contradictions."""

import pytest

from valuecrm.demo.generate import demo_generate
from valuecrm.insights.models import CustomerValue, RunStatus
from valuecrm.insights.services import score_now


@pytest.mark.django_db(transaction=False)
def test_demo_after_scoring_has_no_unexplained_contradictions():
    demo_generate(customers=600, seed=7)
    run = score_now()
    assert run.status == RunStatus.SUCCEEDED, run.error
    report = run.consistency
    assert report["customers"] == run.n_buyers
    unexplained = {p["code"]: p["examples"] for p in report["pairs"] if p["unexplained"]}
    assert unexplained == {}
    assert report["total"]["unexplained"] == 0
    # The rules are in force, not just counted: nobody at risk whom the model expects back,
    # and nobody ranked A/B/C on a single order.
    assert not CustomerValue.objects.filter(stage="at_risk", churn_risk__lt=0.5).exists()
    assert not CustomerValue.objects.filter(n_orders=1).exclude(tier="N").exclude(stage="prospect").exists()
