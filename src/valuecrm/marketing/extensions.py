"""What marketing adds to the customer pages: the "in segment" filter (so a segment is
also an automation condition and a list filter), the recommendations panel on the 360
page and palette entries."""

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext


def _segment_parse(raw: str, user):
    from valuecrm.marketing.models import Segment

    try:
        pk = int(raw)
    except ValueError:
        raise ValueError(_("Choose a segment.")) from None
    segment = Segment.objects.filter(pk=pk).first()
    if segment is None:
        raise ValueError(_("No such segment."))
    return segment.pk


def _segment_q(pk) -> Q:
    from valuecrm.customers.filters import clean_filters, filters_q
    from valuecrm.marketing.models import Segment

    segment = Segment.objects.filter(pk=pk).first()
    if segment is None:
        return Q(pk__in=[])
    # A segment nested in itself would recurse: its own "segment" key is ignored.
    filters = {k: v for k, v in segment.filters.items() if k != "in_segment"}
    return filters_q(clean_filters(filters))


def _segment_display(pk) -> str:
    from valuecrm.marketing.models import Segment

    return Segment.objects.filter(pk=pk).values_list("name", flat=True).first() or str(pk)


def _segment_choices(user):
    from valuecrm.marketing.models import Segment

    return [(str(pk), name) for pk, name in Segment.objects.values_list("pk", "name")]


def _filters():
    from valuecrm.customers.filters import FilterSpec

    return [FilterSpec("in_segment", gettext_lazy("In segment"), "select", _segment_parse, _segment_q,
                       display=_segment_display, choices=_segment_choices),
            FilterSpec("consent", gettext_lazy("Marketing consent"), "select", _consent_parse, _consent_q,
                       display=_consent_display, choices=_consent_choices)]


_CONSENT = {"email": "consent_email", "sms": "consent_sms", "wechat": "consent_wechat"}


def _consent_labels():
    return {"email": pgettext("channel", "Email"), "sms": _("Short message"), "wechat": _("WeChat")}


def _consent_parse(raw: str, user):
    if raw not in _CONSENT:
        raise ValueError(_("Not a valid choice."))
    return raw


def _consent_q(channel) -> Q:
    return Q(**{_CONSENT[channel]: True})


def _consent_display(channel) -> str:
    return str(_consent_labels().get(channel, channel))


def _consent_choices(user):
    return list(_consent_labels().items())


def _panel_context(request, customer):
    from valuecrm.marketing import consent, selectors

    return {"recommendations": selectors.recommendations_for(customer, limit=5),
            "personalised": consent.allows_personalisation(customer)}


def register() -> None:
    from valuecrm.customers.extensions import PaletteEntry, Panel, registry

    registry.add_filters(_filters)
    registry.add_panel(Panel("marketing-recommendations", "marketing/_recommendations_panel.html",
                             context=_panel_context, order=60))
    registry.add_palette_entry(PaletteEntry(
        "marketing-campaigns", gettext_lazy("Campaigns"), "megaphone", keywords="campaigns marketing holdout"))
    registry.add_palette_entry(PaletteEntry(
        "marketing-segments", gettext_lazy("Segments"), "diagram-3", keywords="segments audience marketing"))
