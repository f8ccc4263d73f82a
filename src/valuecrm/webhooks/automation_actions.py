"""The send_webhook automation action: post a signed JSON body to one endpoint.

Registered from WebhooksConfig.ready(); webhooks sits above automation in
the layers, so it only knows the action interface in common, never the engine.
"""

from __future__ import annotations

import uuid

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from valuecrm.common.actions import Action, Outcome, Param, Plan, register_action
from valuecrm.webhooks.models import WebhookEndpoint
from valuecrm.webhooks.webhooks import endpoint_deliver

WEBHOOK_EVENT = "automation.rule"


def _endpoint_choices():
    return [(str(pk), name) for pk, name in WebhookEndpoint.objects.filter(active=True)
            .order_by("name").values_list("pk", "name")]


class SendWebhook(Action):
    type = "send_webhook"
    label = gettext_lazy("Send a webhook")
    params = (Param("endpoint_id", gettext_lazy("Endpoint"), "choice", required=True, choices=_endpoint_choices),)

    @classmethod
    def check(cls, cleaned, errors):
        if "endpoint_id" in cleaned:
            cleaned["endpoint_id"] = int(cleaned["endpoint_id"])
        return {}

    def _endpoint(self):
        return WebhookEndpoint.objects.filter(pk=self.config["endpoint_id"], active=True).first()

    def plan(self, ctx):
        endpoint = self._endpoint()
        if endpoint is None:
            return Plan(_("The endpoint is gone or inactive: nothing would be sent"))
        return Plan(_("Post “%(event)s” to %(name)s") % {"event": WEBHOOK_EVENT, "name": endpoint.name},
                    {"endpoint_id": endpoint.pk})

    def apply(self, ctx):
        endpoint = self._endpoint()
        if endpoint is None:
            raise ValueError(_("The webhook endpoint is gone or inactive."))
        # One delivery per (rule, event, record): a re-run never posts twice.
        delivery_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{ctx.rule_id}:{ctx.event_id}:{ctx.customer_id}").hex
        data = {"rule_id": ctx.rule_id, "rule": ctx.rule_name, "event": ctx.event_name,
                "event_id": ctx.event_id, "customer_id": ctx.customer_id}
        delivery = endpoint_deliver(endpoint=endpoint, event=WEBHOOK_EVENT, data=data, event_id=delivery_id)
        return Outcome(_("Queued delivery to %(name)s") % {"name": endpoint.name},
                       {"delivery_id": delivery.pk if delivery else None})


def register() -> None:
    register_action(SendWebhook)
