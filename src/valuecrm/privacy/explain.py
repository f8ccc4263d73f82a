""""Explain this score": how one person's CLV, P(alive), churn risk, stage and tier were made.

A read (no writes): the scoring run that produced the current value row, the
model and its fitted parameters, this person's BTYD inputs recomputed from their
own orders exactly as the run summarised everyone (engine.summarize, same as-of
and unit), and the rules that fired — in the reader's language.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.customers.models import Customer
from valuecrm.engine.summary import summarize
from valuecrm.insights.models import CustomerValue, LifecycleRules, Stage, Tier, TierPolicy
from valuecrm.insights.report import model_name, param_meaning
from valuecrm.insights.selectors import tier_names, value_summary
from valuecrm.insights.services.playbook import reason_text
from valuecrm.orders.models import REVENUE_STATUSES, Order
from valuecrm.privacy.selectors import allows_automated_decisions, allows_personalisation

UNIT_LABELS = {"D": gettext_lazy("days"), "W": gettext_lazy("weeks"), "M": gettext_lazy("months")}


def btyd_inputs(customer_id: int, as_of: dt.date, unit: str) -> dict | None:
    """frequency, recency, T and monetary value of one customer, as the run computed them."""
    rows = [(timezone.localtime(placed_at).date(), float(amount)) for placed_at, amount in
            Order.objects.filter(customer_id=customer_id, status__in=REVENUE_STATUSES)
            .values_list("placed_at", "total_amount")]
    rows = [(day, amount) for day, amount in rows if day <= as_of]
    if not rows:
        return None
    frame = pd.DataFrame({"customer_id": customer_id, "date": pd.to_datetime([r[0] for r in rows]),
                          "amount": [r[1] for r in rows]})
    # A day's orders are one purchase occasion, as in insights.services.data.
    frame = frame.groupby(["customer_id", "date"], as_index=False)["amount"].sum()
    summary = summarize(frame, unit=unit, observation_end=as_of).iloc[0]
    return {
        "frequency": int(summary["frequency"]),
        "recency": float(summary["recency"]),
        "T": float(summary["T"]),
        "monetary_value": float(summary["monetary_value"]),
        "first_purchase": pd.Timestamp(summary["first_purchase"]).date(),
        "last_purchase": pd.Timestamp(summary["last_purchase"]).date(),
        "orders": len(rows),
    }


def _stage_rules(stage: str, rules: LifecycleRules) -> list[str]:
    """The thresholds of the rule that put a customer in `stage` (defaults editable in Value settings)."""
    texts = {
        Stage.PROSPECT: [_("No paid order yet.")],
        Stage.NEW: [_("First order within the last %(d)s days and no repeat order yet.") % {"d": rules.new_days}],
        Stage.GROWING: [_("A repeat buyer, still active, who is not yet loyal.")],
        Stage.LOYAL: [_("At least %(n)s orders, tenure at least %(d)s days, and active.") % {
            "n": rules.loyal_min_orders, "d": rules.loyal_min_tenure_days}],
        Stage.AT_RISK: [
            _("Gap since the last order longer than %(f)s × the usual interval, or P(alive) below %(p)s, "
              "or spend down more than %(s)s %%; and churn risk at least %(r)s.") % {
                "f": rules.at_risk_gap_factor, "p": rules.at_risk_p_alive,
                "s": round(100 * rules.at_risk_spend_drop), "r": rules.at_risk_min_churn_risk}],
        Stage.CHURNED: [_("P(alive) below %(p)s, or a gap longer than %(f)s × the usual interval and at "
                          "least %(d)s days.") % {"p": rules.churned_p_alive, "f": rules.churned_gap_factor,
                                                  "d": rules.churned_min_gap_days}],
        Stage.REACTIVATED: [_("Bought again after being at risk or churned (shown for %(d)s days).") % {
            "d": rules.reactivated_days}],
    }
    return [str(t) for t in texts.get(stage, [])]


def _tier_rule(value: CustomerValue, policy: TierPolicy) -> str:
    if value.tier == Tier.N:
        return _("Too little history to rank by predicted CLV (one order, or a first order less than one "
                 "usual interval ago).")
    better = CustomerValue.objects.filter(run_id=value.run_id, clv__gt=value.clv).exclude(tier=Tier.N).count()
    ranked = CustomerValue.objects.filter(run_id=value.run_id).exclude(tier=Tier.N).count()
    share = (better + 1) / ranked if ranked else 0
    return _("Ranked %(rank)s of %(n)s customers by predicted CLV (top %(pct)s %%). Tier A is the top "
             "%(a)s %%, tier B the next %(b)s %%, tier C the rest.") % {
        "rank": better + 1, "n": ranked, "pct": max(1, round(100 * share)),
        "a": round(100 * policy.share_a), "b": round(100 * policy.share_b)}


def explain(customer: Customer) -> dict | None:
    """The explanation of the customer's current value row, or None before the first scoring.

    The caller has checked that the viewer may see the customer.
    """
    value = CustomerValue.objects.filter(customer_id=customer.pk).select_related("run").first()
    if value is None:
        return None
    run = value.run
    summary = value_summary(value)
    unit = run.unit if run else "D"
    inputs = btyd_inputs(customer.pk, value.as_of, unit)
    model = run.transaction_model if run else ""
    spend = (run.spend_params or {}) if run else {}
    return {
        "value": summary,
        "run": run,
        "as_of": value.as_of,
        "unit": unit,
        "unit_label": str(UNIT_LABELS.get(unit, unit)),
        "inputs": inputs,
        "model": model,
        "model_label": model_name(model) if model else "",
        "params": [{"name": k, "value": v, "meaning": param_meaning(model, k)}
                   for k, v in ((run.model_params or {}) if run else {}).items()],
        "spend_model_label": model_name(spend.get("model", "")) if spend.get("model") else "",
        "spend_params": [{"name": k, "value": v, "meaning": param_meaning(spend.get("model", ""), k)}
                         for k, v in (spend.get("params") or {}).items()],
        "clv_basis": run.clv_basis if run else "",
        # Read, never create, the policy rows: a selector must not write.
        "stage_rules": _stage_rules(value.stage, LifecycleRules.objects.order_by("pk").first() or LifecycleRules()),
        "stage_reason": reason_text(value.nba_reason) if value.nba_reason else "",
        "tier_rule": _tier_rule(value, TierPolicy.objects.order_by("pk").first() or TierPolicy()),
        "tier_label": tier_names().get(value.tier, value.tier),
        "rfm": {"r": value.r_score, "f": value.f_score, "m": value.m_score},
        "value_reasons": summary["value_reasons"],
        "personalisation_allowed": allows_personalisation(customer),
        "automated_decisions_allowed": allows_automated_decisions(customer),
    }
