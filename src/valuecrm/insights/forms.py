"""Forms of the value settings page: the inputs of each policy section and of a
playbook cell, with their units, short labels and help texts.

The forms only parse types (a number is a number); the policy services
(insights.services.policies) validate the values, each policy as a whole, and their
ValidationFailed errors are put back under the inputs they name.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, pgettext_lazy

from valuecrm.common.errors import ValidationFailed
from valuecrm.insights import selectors
from valuecrm.insights.models import (
    RANKED_TIERS,
    LifecycleRules,
    PlaybookEntry,
    Stage,
    TierPolicy,
    WarningPolicy,
)

_DAYS = gettext_lazy("days")
_SHARE = "0–1"
_TIMES = gettext_lazy("× usual interval")

# Field → (unit shown after the input, step of the number input).
POLICY_UNITS = {
    "new_days": (_DAYS, "1"),
    "loyal_min_orders": (pgettext_lazy("unit after a number", "orders"), "1"),
    "loyal_min_tenure_days": (_DAYS, "1"),
    "at_risk_gap_factor": (_TIMES, "0.1"),
    "at_risk_p_alive": (_SHARE, "0.01"),
    "at_risk_spend_drop": (_SHARE, "0.01"),
    "churned_p_alive": (_SHARE, "0.01"),
    "churned_gap_factor": (_TIMES, "0.1"),
    "churned_min_gap_days": (_DAYS, "1"),
    "reactivated_days": (_DAYS, "1"),
    "trend_window_days": (_DAYS, "1"),
    "share_a": (_SHARE, "0.01"),
    "share_b": (_SHARE, "0.01"),
    "value_min_reasons": (gettext_lazy("of 5"), "1"),
    "gap_factor": (_TIMES, "0.1"),
    "spend_drop": (_SHARE, "0.01"),
    "p_alive_threshold": (_SHARE, "0.01"),
    "task_due_days": (_DAYS, "1"),
}

# Shorter labels than the models' verbose names where the group's heading already
# names the stage; the rest keep the model's label.
POLICY_LABELS = {
    "new_days": gettext_lazy("New for up to"),
    "loyal_min_orders": gettext_lazy("Orders at least"),
    "loyal_min_tenure_days": gettext_lazy("Customer for at least"),
    "at_risk_gap_factor": gettext_lazy("Gap since last order over"),
    "at_risk_p_alive": gettext_lazy("P(alive) below"),
    "at_risk_spend_drop": gettext_lazy("Spend down by more than"),
    "churned_p_alive": gettext_lazy("P(alive) below"),
    "churned_gap_factor": gettext_lazy("Gap since last order over"),
    "churned_min_gap_days": gettext_lazy("Gap at least"),
    "reactivated_days": gettext_lazy("Reactivated for"),
    "trend_window_days": gettext_lazy("Trend window"),
    "value_min_reasons": gettext_lazy("Reasons needed"),
    "enabled": gettext_lazy("Raise early warnings"),
    "tiers": gettext_lazy("Watch tiers"),
    "gap_factor": gettext_lazy("Buys less often: gap over"),
    "spend_drop": gettext_lazy("Spends less: down by more than"),
    "p_alive_threshold": gettext_lazy("Likely to stop: P(alive) below"),
    "task_due_days": gettext_lazy("Follow-up task due in"),
}

POLICY_HELP = {
    "new_days": gettext_lazy("After a first order a customer is new for this many days; "
                             "without a second order by then they are at risk."),
    "loyal_min_orders": gettext_lazy("An active customer with at least this many orders…"),
    "loyal_min_tenure_days": gettext_lazy("…whose first order was at least this many days ago is mature / loyal."),
    "at_risk_gap_factor": gettext_lazy("Days since the last order, as a multiple of the customer's usual "
                                       "interval between orders (2 = twice as long as usual)."),
    "at_risk_p_alive": gettext_lazy("Probability that they are still a customer (0.5 = 50 %)."),
    "at_risk_spend_drop": gettext_lazy("Spend in the latest trend window against the window before "
                                       "(0.5 = down by half)."),
    "churned_p_alive": gettext_lazy("Probability that they are still a customer (0.1 = 10 %)."),
    "churned_gap_factor": gettext_lazy("Days since the last order, as a multiple of the usual interval…"),
    "churned_min_gap_days": gettext_lazy("…and never fewer days than this, whatever the customer's rhythm."),
    "reactivated_days": gettext_lazy("How long a customer who bought again after being at risk or churned "
                                     "stays reactivated."),
    "trend_window_days": gettext_lazy("Spend in the latest window of this many days is compared with the "
                                      "window before."),
    "name_a": gettext_lazy("Shown wherever the tier appears, e.g. Gold."),
    "name_b": gettext_lazy("e.g. Silver."),
    "name_c": gettext_lazy("e.g. Bronze."),
    "share_a": gettext_lazy("The top share of buyers by predicted CLV (0.2 = top 20 %)."),
    "share_b": gettext_lazy("The next share after tier A (0.3 = next 30 %); everyone else is tier C. "
                            "Both shares together at most 1."),
    "value_min_reasons": gettext_lazy("Buys often, high spend, high margin, loyal, refers others: "
                                      "a buyer with at least this many is a value customer."),
    "enabled": gettext_lazy("When a watched customer slows down, raise an alert and give their owner "
                            "a follow-up task."),
    "tiers": gettext_lazy("Only customers in these tiers are watched."),
    "gap_factor": gettext_lazy("Days since the last order, as a multiple of their usual interval."),
    "spend_drop": gettext_lazy("Spend in the latest trend window below their usual spend by this share "
                               "(0.4 = 40 %)."),
    "p_alive_threshold": gettext_lazy("Warns once when the probability that they are still a customer "
                                      "falls below this."),
    "task_due_days": gettext_lazy("The owner's task is due this many days after the warning."),
}


@dataclass(frozen=True)
class FieldGroup:
    legend: str | Promise
    note: str | Promise
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SettingsSection:
    key: str  # in the URL and the element ids
    policy: str  # services.policies.EDITABLE
    model: type
    title: str | Promise
    intro: str | Promise
    icon: str
    groups: tuple[FieldGroup, ...]

    @property
    def fields(self) -> list[str]:
        return [name for group in self.groups for name in group.fields]


SETTINGS_SECTIONS = {section.key: section for section in (
    SettingsSection(
        "lifecycle", "lifecycle_rules", LifecycleRules, gettext_lazy("Lifecycle stages"),
        gettext_lazy("Each customer is judged by their own rhythm of buying. The stage is checked in this "
                     "order: churned, reactivated, at risk, mature / loyal, growing, new."),
        "signpost-split",
        (
            FieldGroup(Stage.NEW.label, gettext_lazy("First order recently, no repeat order yet."), ("new_days",)),
            FieldGroup(Stage.LOYAL.label, gettext_lazy("Enough orders over a long enough time, still active."),
                       ("loyal_min_orders", "loyal_min_tenure_days")),
            FieldGroup(Stage.AT_RISK.label, gettext_lazy("Any one of these signals."),
                       ("at_risk_gap_factor", "at_risk_p_alive", "at_risk_spend_drop")),
            FieldGroup(Stage.CHURNED.label, gettext_lazy("P(alive) below the threshold, or a long silence."),
                       ("churned_p_alive", "churned_gap_factor", "churned_min_gap_days")),
            FieldGroup(Stage.REACTIVATED.label, gettext_lazy("Bought again after being at risk or churned."),
                       ("reactivated_days",)),
            FieldGroup(gettext_lazy("Spend trend"), gettext_lazy("Used by the spend rules and by early warnings."),
                       ("trend_window_days",)),
        ),
    ),
    SettingsSection(
        "tiers", "tier_policy", TierPolicy, gettext_lazy("Value tiers"),
        gettext_lazy("Buyers are ranked by predicted CLV: tier A is the top share, tier B the next, "
                     "tier C everyone else."),
        "bar-chart-steps",
        (
            FieldGroup(gettext_lazy("Tier names"), gettext_lazy("On customer pages, lists and the dashboard."),
                       ("name_a", "name_b", "name_c")),
            FieldGroup(gettext_lazy("Tier shares"), gettext_lazy("Shares of buyers, from the highest CLV down."),
                       ("share_a", "share_b")),
            FieldGroup(gettext_lazy("Value customers"), gettext_lazy("Who gets the value-customer flag."),
                       ("value_min_reasons", "referral_tag")),
        ),
    ),
    SettingsSection(
        "warnings", "warning_policy", WarningPolicy, gettext_lazy("Early warnings"),
        gettext_lazy("A valuable customer who slows down gets an alert and a follow-up task for the owner; "
                     "each customer is compared with their own baseline."),
        "bell",
        (
            FieldGroup(gettext_lazy("Watch"), gettext_lazy("Which customers are watched."), ("enabled", "tiers")),
            FieldGroup(gettext_lazy("Signals"), gettext_lazy("Any one signal raises a warning."),
                       ("gap_factor", "spend_drop", "p_alive_threshold")),
            FieldGroup(gettext_lazy("Follow-up"), gettext_lazy("What happens when a warning is raised."),
                       ("task_due_days",)),
        ),
    ),
)}


def _tier_choices() -> list[tuple[str, str]]:
    names = selectors.tier_names()
    return [(tier, tier if names[tier] == tier else f"{tier} · {names[tier]}") for tier in RANKED_TIERS]


class ServiceErrorsForm(forms.Form):
    def add_service_errors(self, exc: ValidationFailed) -> None:
        """Each message of the service's ValidationFailed under the input it names."""
        for key, msgs in (exc.errors or {"__all__": [exc.detail]}).items():
            self.add_error(key if key in self.fields else None, msgs)

    def autofocus_first_error(self, fallback: str | None = None) -> None:
        """Put the cursor where the user has to act (htmx focuses [autofocus] after a swap)."""
        name = next((name for name in self.fields if name in self.errors), fallback)
        if name is not None:
            self.fields[name].widget.attrs["autofocus"] = True


class PolicyForm(ServiceErrorsForm):
    """The inputs of one settings section. It only parses types (a number is a
    number); the policy service validates the values, as a whole."""

    def __init__(self, section: SettingsSection, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{section.key}-%s")
        super().__init__(*args, **kwargs)
        self.section = section
        self.fields.update(forms.fields_for_model(
            section.model, fields=section.fields, labels=POLICY_LABELS, help_texts=POLICY_HELP,
        ))
        if "tiers" in self.fields:
            self.fields["tiers"] = forms.MultipleChoiceField(
                label=POLICY_LABELS["tiers"], help_text=POLICY_HELP["tiers"], required=False,
                choices=_tier_choices(), widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
            )
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.update({"class": "form-check-input", "role": "switch"})
            elif isinstance(widget, forms.NumberInput):
                unit, step = POLICY_UNITS[name]
                field.vc_unit = unit
                widget.attrs.update({"class": "form-control vc-num-input", "step": step,
                                     "inputmode": "numeric" if step == "1" else "decimal"})
            elif isinstance(widget, forms.TextInput):
                widget.attrs.update({"class": "form-control form-control-sm"})

    @classmethod
    def for_policy(cls, section: SettingsSection, policy) -> PolicyForm:
        initial = {name: getattr(policy, name) for name in section.fields}
        if "tiers" in initial:
            initial["tiers"] = list(str(initial["tiers"]).upper())
        return cls(section, initial=initial)

    def grouped(self) -> list[tuple[FieldGroup, list]]:
        return [(group, [self[name] for name in group.fields]) for group in self.section.groups]

    def to_service_data(self) -> dict:
        data = dict(self.cleaned_data)
        if "tiers" in data:
            data["tiers"] = "".join(tier for tier in RANKED_TIERS if tier in data["tiers"])
        return data


class PlaybookCellForm(ServiceErrorsForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(forms.fields_for_model(
            PlaybookEntry, fields=["text_en", "text_zh", "action_code"],
            labels={"text_en": gettext_lazy("English"), "text_zh": gettext_lazy("中文")},
            help_texts={"action_code": gettext_lazy("Lowercase letters, digits, - and _; automation rules "
                                                    "and exports use it.")},
        ))
        for name in ("text_en", "text_zh"):
            self.fields[name].widget = forms.Textarea(attrs={"class": "form-control form-control-sm", "rows": 3,
                                                             "maxlength": 200})
        self.fields["text_zh"].widget.attrs["lang"] = "zh-Hans"
        self.fields["text_en"].widget.attrs["lang"] = "en"
        self.fields["action_code"].widget.attrs.update({"class": "form-control form-control-sm font-monospace",
                                                        "autocomplete": "off", "spellcheck": "false"})


