"""The "open ticket" automation action: a rule opens a service ticket for the customer."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.actions import Action, ActionContext, Outcome, Param, Plan, render_text
from valuecrm.service.models import Priority


def _priorities():
    return [(p.value, str(p.label)) for p in Priority]


class OpenTicket(Action):
    type = "open_ticket"
    label = gettext_lazy("Open a service ticket")
    params = (
        Param("subject", gettext_lazy("Subject"), required=True,
              help=gettext_lazy("Placeholders: {customer}, {to_stage}, {tier}…")),
        Param("description", gettext_lazy("Description"), "textarea"),
        Param("priority", gettext_lazy("Priority"), "choice", choices=_priorities),
    )

    def _subject(self, ctx: ActionContext) -> str:
        return render_text(self.config["subject"], ctx.facts)[:200]

    def plan(self, ctx: ActionContext) -> Plan:
        return Plan(_("Open ticket “%(subject)s”") % {"subject": self._subject(ctx)},
                    {"priority": self.config.get("priority", Priority.NORMAL)})

    def apply(self, ctx: ActionContext) -> Outcome:
        from valuecrm.service.services import ticket_create

        ticket = ticket_create(actor=ctx.actor, data={
            "customer_id": ctx.customer_id, "subject": self._subject(ctx),
            "description": render_text(self.config.get("description", ""), ctx.facts),
            "priority": self.config.get("priority", Priority.NORMAL), "channel": "api",
        })
        return Outcome(_("Opened ticket #%(id)s") % {"id": ticket.pk}, {"ticket_id": ticket.pk})


def _kinds():
    from valuecrm.service.models import SurveyKind

    return [(k.value, str(k.label)) for k in SurveyKind]


class SendSurvey(Action):
    """E-mail the customer a CSAT or NPS survey (skipped within the one-per-30-days limit)."""

    type = "send_survey"
    label = gettext_lazy("Send a satisfaction survey")
    params = (Param("kind", gettext_lazy("Survey"), "choice", required=True, choices=_kinds),)

    def plan(self, ctx: ActionContext) -> Plan:
        return Plan(_("Send a %(kind)s survey") % {"kind": self.config["kind"].upper()},
                    {"kind": self.config["kind"]})

    def apply(self, ctx: ActionContext) -> Outcome:
        from valuecrm.customers.models import Customer
        from valuecrm.service.surveys import survey_send

        customer = Customer.objects.get(pk=ctx.customer_id)
        survey = survey_send(customer=customer, kind=self.config["kind"])
        if survey is None:
            return Outcome(_("No survey: surveyed recently or no e-mail address"), {})
        return Outcome(_("Sent survey #%(id)s") % {"id": survey.pk}, {"survey_id": survey.pk})
