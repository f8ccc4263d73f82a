"""Automation actions owned by loyalty: award points, enrol in the programme, set a tier.
plan() only reads; apply() calls the loyalty services as the automation actor."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.actions import Action, Outcome, Param, Plan, register_action


def _tier_choices():
    from valuecrm.loyalty.models import Tier

    return [(t.code, t.label) for t in Tier.objects.order_by("rank")]


class AwardPoints(Action):
    type = "award_points"
    label = gettext_lazy("Award loyalty points")
    params = (Param("points", gettext_lazy("Points"), "number", required=True,
                    help=gettext_lazy("Negative to take points away.")),
              Param("reason", gettext_lazy("Reason (kept in the ledger)"), "text", required=True))

    @classmethod
    def check(cls, cleaned, errors):
        if "points" in cleaned and cleaned["points"] == 0:
            return {"points": [_("Enter a non-zero number of points.")]}
        return {}

    def plan(self, ctx):
        n = self.config["points"]
        return Plan(_("Award %(n)s points (%(reason)s)") % {"n": n, "reason": self.config["reason"]},
                    {"points": n})

    def apply(self, ctx):
        from valuecrm.loyalty.services import points_adjust

        entry = points_adjust(actor=ctx.actor, customer_id=ctx.customer_id, points=self.config["points"],
                              reason=self.config["reason"])
        return Outcome(_("Awarded %(n)s points") % {"n": entry.points}, {"entry_id": entry.pk})


class EnrolMember(Action):
    type = "enrol_loyalty"
    label = gettext_lazy("Enrol in the loyalty programme")
    params = ()

    def plan(self, ctx):
        from valuecrm.loyalty.models import Account

        if Account.objects.filter(customer_id=ctx.customer_id).exists():
            return Plan(_("Already a member: nothing to do"), {})
        return Plan(_("Enrol in the loyalty programme"), {"enrol": True})

    def apply(self, ctx):
        from valuecrm.loyalty.services import account_enrol

        _account, created = account_enrol(actor=ctx.actor, customer_id=ctx.customer_id)
        return Outcome(_("Enrolled") if created else _("Already a member: nothing to do"), {"enrol": created})


class SetTier(Action):
    type = "set_membership_tier"
    label = gettext_lazy("Set the membership tier")
    params = (Param("tier", gettext_lazy("Tier"), "choice", required=True, choices=_tier_choices),
              Param("days", gettext_lazy("For how many days (empty: until removed)"), "number"))

    @classmethod
    def check(cls, cleaned, errors):
        if "days" in cleaned and not 1 <= cleaned["days"] <= 3660:
            return {"days": [_("Enter a number from 1 to 3660.")]}
        return {}

    def plan(self, ctx):
        return Plan(_("Set the membership tier to %(t)s (a floor)") % {"t": self.config["tier"]},
                    {"tier": self.config["tier"]})

    def apply(self, ctx):
        import datetime as dt

        from django.utils import timezone

        from valuecrm.loyalty.services import tier_set

        days = self.config.get("days")
        until = timezone.localdate() + dt.timedelta(days=days) if days else None
        account = tier_set(actor=ctx.actor, customer_id=ctx.customer_id, tier_code=self.config["tier"], until=until)
        return Outcome(_("Membership tier is %(t)s") % {"t": account.tier.code if account.tier else "—"},
                       {"tier": self.config["tier"]})


def _moment(ctx):
    """A scheduled firing acts as of its scheduled time (a catch-up run included); else now."""
    import datetime as dt

    from django.utils import timezone

    stamp = ctx.facts.get("scheduled_at")
    return dt.datetime.fromisoformat(stamp) if stamp else timezone.now()


class VipCareTask(Action):
    type = "vip_care_task"
    label = gettext_lazy("Create a VIP care task (once per care cadence)")
    params = (Param("due_in_days", gettext_lazy("Due in (days)"), "number"),)

    @classmethod
    def check(cls, cleaned, errors):
        if not 0 <= cleaned.get("due_in_days", 2) <= 365:
            return {"due_in_days": [_("Enter between 0 and 365 days.")]}
        return {}

    def plan(self, ctx):
        from valuecrm.customers.models import Customer
        from valuecrm.loyalty.selectors import care_due_q

        if not ctx.facts.get("owner_id"):
            return Plan(_("No care owner: nothing to do"), {})
        if not Customer.objects.filter(care_due_q(now=_moment(ctx)), pk=ctx.customer_id).exists():
            return Plan(_("VIP care is not due: nothing to do"), {})
        return Plan(_("Create a VIP care task for %(owner)s") % {"owner": ctx.facts.get("owner", "")},
                    {"assignee_id": ctx.facts.get("owner_id")})

    def apply(self, ctx):
        from valuecrm.loyalty.services import vip_care_remind

        reminder = vip_care_remind(actor=ctx.actor, customer_id=ctx.customer_id, now=_moment(ctx),
                                   due_in_days=int(self.config.get("due_in_days", 2)))
        if reminder is None:
            return Outcome(_("VIP care is not due: nothing to do"), {})
        return Outcome(_("Created task #%(id)s") % {"id": reminder.task_id}, {"task_id": reminder.task_id})


def register() -> None:
    for cls in (AwardPoints, EnrolMember, SetTier, VipCareTask):
        register_action(cls)
