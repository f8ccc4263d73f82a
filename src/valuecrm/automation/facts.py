"""What an action may say about a record, read in bulk before the actions run.

Placeholders in a rule's texts ({customer}, {owner}, {to_stage}, {alert_title}, …)
come from here and from the event's own fields.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from valuecrm.common.events import ids_in
from valuecrm.customers.models import Customer

CHUNK = 2000


def customer_facts(customer_ids) -> dict[int, dict]:
    ids = sorted(set(customer_ids))
    out: dict[int, dict] = {}
    for start in range(0, len(ids), CHUNK):
        for row in Customer.objects.filter(pk__in=ids_in(Customer, "id", ids[start:start + CHUNK])).values(
                "pk", "name", "owner_id", "team_id", "owner__username", "owner__first_name",
                "owner__last_name", "owner__language"):
            owner = " ".join(p for p in (row["owner__first_name"], row["owner__last_name"]) if p) \
                or row["owner__username"] or ""
            out[row["pk"]] = {"customer": row["name"], "customer_id": row["pk"], "owner_id": row["owner_id"],
                              "team_id": row["team_id"], "owner": owner,
                              "owner_language": row["owner__language"] or ""}
    return out


def _value_alert_facts(items) -> dict[str, dict]:
    """The value-alert task text exactly as scoring wrote it before it became a rule:
    in the owner's language, with the alert's reason."""
    from valuecrm.insights.models import AlertKind, ValueAlert, WarningPolicy
    from valuecrm.insights.services.playbook import reason_text

    by_alert = {i.payload.get("alert_id"): i for i in items if i.event_name == "value_alert.raised"}
    out: dict[str, dict] = {}
    # Read, never create, the policy: a dry run plans under no_writes().
    policy = WarningPolicy.objects.order_by("pk").first()
    due_days = policy.task_due_days if policy else WarningPolicy._meta.get_field("task_due_days").default
    ids = sorted(k for k in by_alert if k)
    for start in range(0, len(ids), CHUNK):
        rows = ValueAlert.objects.filter(pk__in=ids[start:start + CHUNK]).values(
            "pk", "kind", "reason_params", "customer__name", "customer__owner__language")
        for row in rows:
            with translation.override(row["customer__owner__language"] or settings.LANGUAGE_CODE):
                kind = str(AlertKind(row["kind"]).label)
                reason = reason_text(row["reason_params"] or {})
                title = _("Value alert: %(customer)s — %(kind)s") % {"customer": row["customer__name"], "kind": kind}
            out[by_alert[row["pk"]].event_id] = {"alert_kind": kind, "alert_reason": reason, "alert_title": title,
                                                 "due_in_days": due_days}
    return out


def event_facts(items) -> dict[str, dict]:
    if any(i.event_name == "value_alert.raised" for i in items):
        return _value_alert_facts(items)
    return {}
