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
