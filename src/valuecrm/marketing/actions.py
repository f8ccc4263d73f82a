"""Automation actions owned by marketing: "send message", "send greeting" and "enrol in campaign"."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.actions import Action, Outcome, Param, Plan, register_action


def _template_choices():
    from valuecrm.marketing.models import MessageTemplate

    return [(str(pk), name) for pk, name in MessageTemplate.objects.values_list("pk", "name")]


def _campaign_choices():
    from valuecrm.marketing.models import Campaign, CampaignStatus

    return [(str(pk), name) for pk, name in
            Campaign.objects.exclude(status=CampaignStatus.DRAFT).values_list("pk", "name")]


class SendMessage(Action):
    type = "send_message"
    label = gettext_lazy("Send a marketing message")
    params = (Param("template_id", gettext_lazy("Template"), "choice", required=True, choices=_template_choices),)

    def _template(self):
        from valuecrm.marketing.models import MessageTemplate

        return MessageTemplate.objects.get(pk=int(self.config["template_id"]))

    def plan(self, ctx):
        from django.utils import timezone

        from valuecrm.marketing import services

        template = self._template()
        stop = services.eligibility(template.channel, [ctx.customer_id], timezone.now())
        if stop:
            return Plan(_("Not sent to this customer (%(why)s)") % {"why": stop[ctx.customer_id]}, {})
        return Plan(_("Send “%(t)s”") % {"t": template.name}, {"send_message": template.pk})

    def apply(self, ctx):
        from valuecrm.customers.models import Customer
        from valuecrm.marketing import services

        template = self._template()
        customer = Customer.objects.get(pk=ctx.customer_id)
        key = f"rule-{ctx.rule_id}:{ctx.event_id}:{ctx.customer_id}"
        message = services.message_send(actor=ctx.actor, customer=customer, template=template, key=key)
        if message is None:
            return Outcome(_("Not sent: consent, suppression, cap or quiet hours"), {})
        return Outcome(_("Message %(status)s") % {"status": message.get_status_display()},
                       {"message_id": message.pk})


def _tier_choices():
    from valuecrm.insights.models import Tier

    return list(Tier.choices)


class SendGreeting(SendMessage):
    """A greeting: the gift template for customers of the gift tier, the plain one for everyone else.

    Sending goes through the same consent, suppression, daily cap and quiet-hour checks
    as "send message"."""

    type = "send_greeting"
    label = gettext_lazy("Send a greeting (gift variant by tier)")
    params = (
        Param("template_id", gettext_lazy("Greeting template"), "choice", required=True, choices=_template_choices),
        Param("gift_template_id", gettext_lazy("Gift template (for the gift tier)"), "choice",
              choices=_template_choices),
        Param("gift_tier", gettext_lazy("Gift tier"), "choice", choices=_tier_choices),
    )

    def _template(self):
        from valuecrm.marketing.models import MessageTemplate

        key = "template_id"
        if self.config.get("gift_template_id") and self._ctx_tier == self.config.get("gift_tier", "A"):
            key = "gift_template_id"
        return MessageTemplate.objects.get(pk=int(self.config[key]))

    def _set_tier(self, ctx):
        from valuecrm.insights.models import CustomerValue

        self._ctx_tier = CustomerValue.objects.filter(customer_id=ctx.customer_id).values_list(
            "tier", flat=True).first()

    def plan(self, ctx):
        self._set_tier(ctx)
        return super().plan(ctx)

    def apply(self, ctx):
        self._set_tier(ctx)
        return super().apply(ctx)


class EnrolInCampaign(Action):
    type = "enrol_in_campaign"
    label = gettext_lazy("Enrol in a campaign")
    params = (Param("campaign_id", gettext_lazy("Campaign"), "choice", required=True, choices=_campaign_choices),)

    def _campaign(self):
        from valuecrm.marketing.models import Campaign

        return Campaign.objects.get(pk=int(self.config["campaign_id"]))

    def plan(self, ctx):
        from valuecrm.marketing.models import CampaignMember

        campaign = self._campaign()
        if CampaignMember.objects.filter(campaign=campaign, customer_id=ctx.customer_id).exists():
            return Plan(_("Already in “%(c)s”: nothing to do") % {"c": campaign.name}, {})
        return Plan(_("Enrol in “%(c)s” (hold-out by hash)") % {"c": campaign.name},
                    {"enrol_in_campaign": campaign.pk})

    def apply(self, ctx):
        from valuecrm.customers.models import Customer
        from valuecrm.marketing import services

        member = services.campaign_enrol(actor=ctx.actor, campaign=self._campaign(),
                                         customer=Customer.objects.get(pk=ctx.customer_id))
        return Outcome(_("Enrolled (%(group)s)") % {"group": member.get_group_display()},
                       {"campaign_member_id": member.pk, "group": member.group})


def register() -> None:
    register_action(SendMessage)
    register_action(SendGreeting)
    register_action(EnrolInCampaign)
