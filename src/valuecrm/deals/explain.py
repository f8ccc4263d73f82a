"""A deal's prediction factors in words, in the reader's language."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

FEATURE_LABELS = {
    "stage": gettext_lazy("Stage"), "source": gettext_lazy("Source"), "owner": gettext_lazy("Owner"),
    "tier": gettext_lazy("Value tier"), "age_days": gettext_lazy("Deal age"),
    "days_in_stage": gettext_lazy("Days in stage"), "log_amount": gettext_lazy("Amount"),
    "owner_win_rate": gettext_lazy("Owner's win rate"), "activities_14d": gettext_lazy("Activities in 14 days"),
    "log_clv": gettext_lazy("Customer CLV"), "p_alive": gettext_lazy("P(alive)"),
    "past_orders": gettext_lazy("Past orders"), "age_band": gettext_lazy("Deal age"),
    "amount_band": gettext_lazy("Amount"),
}
NUMERIC = {"age_days", "days_in_stage", "log_amount", "owner_win_rate", "activities_14d", "log_clv", "p_alive",
           "past_orders", "age_band", "amount_band"}


def factor_words(factors) -> list[dict]:
    """[{"text", "up"}] — e.g. "Source referral raises the chance"."""
    out = []
    for f in factors or []:
        label = str(FEATURE_LABELS.get(f.get("feature"), f.get("feature")))
        up = (f.get("effect") or 0) > 0
        if f.get("feature") in NUMERIC:
            text = (_("%(feature)s raises the chance") if up else _("%(feature)s lowers the chance")) % {
                "feature": label}
        else:
            text = (_("%(feature)s “%(value)s” raises the chance") if up
                    else _("%(feature)s “%(value)s” lowers the chance")) % {"feature": label, "value": f.get("value")}
        out.append({"text": text, "up": up})
    return out
