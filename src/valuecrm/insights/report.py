"""The model report page's chart series, shaped from selectors.model_report().

The report is about the model, not about customers, so it shows no customer rows
and every signed-in user may read it.
"""

from __future__ import annotations

import math

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.insights.models import ModelChoice

MODEL_NAMES = {ModelChoice.BGNBD.value: "BG/NBD", ModelChoice.PARETONBD.value: "Pareto/NBD",
               "gammagamma": "Gamma-Gamma"}

# What each fitted parameter means, so the table reads as more than Greek letters.
PARAM_MEANINGS = {
    ("bgnbd", "r"): gettext_lazy("shape of the purchase-rate distribution"),
    ("bgnbd", "alpha"): gettext_lazy("scale of the purchase-rate distribution"),
    ("bgnbd", "a"): gettext_lazy("drop-out probability (Beta a)"),
    ("bgnbd", "b"): gettext_lazy("drop-out probability (Beta b)"),
    ("paretonbd", "r"): gettext_lazy("shape of the purchase-rate distribution"),
    ("paretonbd", "alpha"): gettext_lazy("scale of the purchase-rate distribution"),
    ("paretonbd", "s"): gettext_lazy("shape of the lifetime distribution"),
    ("paretonbd", "beta"): gettext_lazy("scale of the lifetime distribution"),
    ("gammagamma", "p"): gettext_lazy("shape of spend per order"),
    ("gammagamma", "q"): gettext_lazy("shape of the customers' mean spend"),
    ("gammagamma", "gamma"): gettext_lazy("scale of the customers' mean spend"),
}


def model_name(code: str) -> str:
    return MODEL_NAMES.get(code, code)


def param_meaning(model: str, name: str) -> str:
    return str(PARAM_MEANINGS.get((model, name), ""))


def param_rows(model: str, params: list[dict]) -> list[dict]:
    rows = []
    for p in params:
        se = p["se"]
        # Parameters are positive and fitted on the log scale: the interval is the
        # log-scale Wald interval mapped back (same rule as the engine's summary()).
        ci = None
        if se is not None and p["value"] > 0:
            try:
                spread = math.exp(1.959964 * se / p["value"])
                ci = (p["value"] / spread, p["value"] * spread)
            except OverflowError:  # an unidentified parameter: no finite interval to show
                ci = None
        rows.append({**p, "meaning": param_meaning(model, p["name"]), "ci": ci})
    return rows


def report_charts(report: dict) -> dict:
    tracking = report["tracking"] or {}
    holdout = tracking.get("holdout") or []
    calibration_start = next((tracking["period_end"][i] for i, h in enumerate(holdout) if h), None)
    churn = report["churn"] or {}
    comparison = report["holdout_comparison"] or []
    return {
        "tracking": {
            "x": tracking.get("period_end", []),
            "actual": tracking.get("actual", []),
            "expected": tracking.get("expected", []),
            "holdout_from": calibration_start,
            "actual_name": _("Actual repeat purchases"),
            "expected_name": _("Expected (model)"),
            "holdout_name": _("Holdout"),
            "y_name": _("Repeat purchases per week"),
        },
        "comparison": {
            "models": [model_name(r["model"]) for r in comparison],
            "expected": [r.get("total_expected") for r in comparison],
            "actual": [r.get("total_actual") for r in comparison],
            "expected_name": _("Expected in holdout"),
            "actual_name": _("Actual in holdout"),
        },
        "calibration": {
            "bins": [c["bin"] for c in churn.get("calibration", [])],
            "predicted": [c["mean_predicted"] for c in churn.get("calibration", [])],
            "observed": [c["observed"] for c in churn.get("calibration", [])],
            "baseline_predicted": [c["mean_predicted"] for c in churn.get("baseline_calibration", [])],
            "baseline_observed": [c["observed"] for c in churn.get("baseline_calibration", [])],
            "model_name": _("Churn model"),
            "baseline_name": (_("BG/NBD P(no purchase in 90 days)") if churn.get("baseline")
                              == "p_no_purchase" else _("1 − P(alive) baseline")),
            "ideal_name": _("Perfect calibration"),
            "x_name": _("Predicted churn probability"), "y_name": _("Observed churn share"),
        },
    }


def churn_metric_rows(churn: dict) -> list[dict]:
    """ROC-AUC, PR-AUC and Brier score of the churn model next to the BG/NBD baseline;
    `better` is True where the model wins, False where the baseline does."""
    model = churn.get("metrics") or {}
    baseline = churn.get("baseline_metrics") or {}
    rows = []
    for key, label, higher in (("roc_auc", "ROC-AUC", True), ("pr_auc", "PR-AUC", True),
                               ("brier", _("Brier score"), False)):
        m, b = model.get(key), baseline.get(key)
        better = None if m is None or b is None else (m > b if higher else m < b)
        rows.append({"key": key, "label": label, "model": m, "baseline": b, "better": better})
    return rows
