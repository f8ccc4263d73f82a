"""Automation actions owned by deals: create a deal, move a deal's stage, assign a
customer to the 公海 pool. plan() only reads; apply() calls deals.services as the
automation actor."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.actions import Action, Outcome, Param, Plan, register_action, render_text
from valuecrm.common.errors import ValidationFailed


def _pipeline_choices():
    from valuecrm.deals.models import Pipeline

    return [(str(p.pk), p.label) for p in Pipeline.objects.filter(active=True)]


def _stage_choices():
    from valuecrm.deals.models import Stage

    return [(str(s.pk), f"{s.pipeline.label} · {s.label}")
            for s in Stage.objects.filter(pipeline__active=True).select_related("pipeline")]


class CreateDeal(Action):
    type = "create_deal"
    label = gettext_lazy("Create a deal")
    params = (
        Param("pipeline", gettext_lazy("Pipeline"), "choice", required=True, choices=_pipeline_choices),
        Param("name", gettext_lazy("Deal name"), "text", required=True,
              help=gettext_lazy("Placeholders such as {customer} are filled in.")),
        Param("amount", gettext_lazy("Amount"), "number"),
    )

    @classmethod
    def check(cls, cleaned, errors):
        if "amount" in cleaned and cleaned["amount"] < 0:
            return {"amount": [_("Enter a positive amount.")]}
        return {}

    def plan(self, ctx):
        name = render_text(self.config["name"], ctx.facts)
        return Plan(_("Create deal “%(name)s”") % {"name": name[:80]},
                    {"pipeline_id": int(self.config["pipeline"]), "name": name})

    def apply(self, ctx):
        from valuecrm.customers.models import Customer
        from valuecrm.deals import services

        data = {"customer_id": ctx.customer_id, "pipeline_id": int(self.config["pipeline"]),
                "name": render_text(self.config["name"], ctx.facts), "amount": self.config.get("amount") or 0,
                "source": "existing"}
        owner_id = Customer.objects.filter(pk=ctx.customer_id).values_list("owner_id", flat=True).first()
        if owner_id:  # the customer's owner works the deal, not the automation account
            data["owner_id"] = owner_id
        deal = services.deal_create(actor=ctx.actor, data=data)
        return Outcome(_("Created deal #%(id)s") % {"id": deal.pk}, {"deal_id": deal.pk})


def _target_deal(ctx):
    """The event's deal, else the customer's newest open deal."""
    from valuecrm.deals.models import Deal, DealStatus

    deal_id = ctx.facts.get("deal_id")
    if deal_id:
        return Deal.objects.filter(pk=deal_id).first()
    return Deal.objects.filter(customer_id=ctx.customer_id, status=DealStatus.OPEN).order_by("-opened_at").first()


class MoveDealStage(Action):
    type = "move_deal_stage"
    label = gettext_lazy("Move deal stage")
    params = (Param("stage", gettext_lazy("Stage"), "choice", required=True, choices=_stage_choices),)

    def plan(self, ctx):
        from valuecrm.deals.models import Stage

        deal = _target_deal(ctx)
        stage = Stage.objects.filter(pk=int(self.config["stage"])).first()
        if deal is None or stage is None:
            return Plan(_("No open deal to move"))
        return Plan(_("Move deal “%(deal)s” to %(stage)s") % {"deal": deal.name, "stage": stage.label},
                    {"deal_id": deal.pk, "stage_id": stage.pk})

    def apply(self, ctx):
        from valuecrm.deals import services

        deal = _target_deal(ctx)
        if deal is None:
            return Outcome(_("No open deal to move"))
        moved = services.deal_move_stage(actor=ctx.actor, deal=deal, stage_id=int(self.config["stage"]))
        return Outcome(_("Moved deal #%(id)s to %(stage)s") % {"id": moved.pk, "stage": moved.stage.label},
                       {"deal_id": moved.pk, "stage_id": moved.stage_id})


class AssignToPool(Action):
    type = "assign_to_pool"
    label = gettext_lazy("Assign to the shared pool (公海)")
    params = (Param("reason", gettext_lazy("Reason"), "text", required=True),)

    def plan(self, ctx):
        if ctx.facts.get("owner_id") is None and "owner_id" in ctx.facts:
            return Plan(_("Already in the pool"))
        return Plan(_("Release to the pool: %(reason)s") % {"reason": render_text(self.config["reason"], ctx.facts)})

    def apply(self, ctx):
        from valuecrm.deals import services

        try:
            services.pool_release(actor=ctx.actor, customer_id=ctx.customer_id,
                                  reason=render_text(self.config["reason"], ctx.facts))
        except ValidationFailed as exc:
            if "customer_id" in exc.errors:
                return Outcome(_("Already in the pool"))
            raise
        return Outcome(_("Released to the pool"), {"customer_id": ctx.customer_id})


def register() -> None:
    for cls in (CreateDeal, MoveDealStage, AssignToPool):
        register_action(cls)
