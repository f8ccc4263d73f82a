"""A/B variants against the real SMTP server: an even test slice, the winner by the
stated criterion after the wait (or variant A when the difference is not significant),
the rest sent the winner — each customer exactly once, also after a crashed worker."""

import datetime as dt
import re
from collections import Counter

import pytest

from valuecrm.common.errors import Conflict, ValidationFailed
from valuecrm.common.models import OutboxEvent
from valuecrm.marketing import selectors, services
from valuecrm.marketing.models import CampaignMember, Group, Message, MessageStatus

pytestmark = pytest.mark.django_db


def _template(actor, subject):
    return services.template_create(actor=actor, data={"name": subject, "channel": "email", "subject": subject,
                                                       "body_text": "您好 {{ unsubscribe_url }}"})


@pytest.fixture
def ab(admin_user, make_customers, settings):
    settings.VALUECRM_MARKETING_SMTP_CONNECTIONS = 1  # small sends: one connection, no thread pool
    make_customers(150)
    a, b = _template(admin_user, "主题 A"), _template(admin_user, "主题 B")
    campaign = services.campaign_create(actor=admin_user, data={
        "name": "AB", "template_id": a.pk, "variant_template_ids": [a.pk, b.pk], "holdout_percent": 10,
        "ab_test_percent": 40, "ab_wait_hours": 4, "ab_criterion": "click_rate"})
    return campaign


def test_variants_are_validated_by_field(admin_user, email_template):
    sms = services.template_create(actor=admin_user, data={"name": "s", "channel": "sms", "body_text": "hi"})
    for data, field in (({"variant_template_ids": [email_template.pk]}, "variant_template_ids"),
                        ({"variant_template_ids": [email_template.pk, sms.pk]}, "variant_template_ids"),
                        ({"variant_template_ids": [email_template.pk, email_template.pk]}, "variant_template_ids"),
                        ({"ab_test_percent": 0}, "ab_test_percent"), ({"ab_wait_hours": "1.5"}, "ab_wait_hours"),
                        ({"ab_criterion": "revenue"}, "ab_criterion")):
        with pytest.raises(ValidationFailed) as exc:
            services.campaign_create(actor=admin_user, data={"name": "x", "template_id": email_template.pk, **data})
        assert list(exc.value.errors) == [field]


def test_test_slice_then_winner_to_the_rest_exactly_once(admin_user, smtp_server, ab, daytime):
    services.campaign_launch(actor=admin_user, campaign=ab, queue=False, now=daytime)
    members = CampaignMember.objects.filter(campaign=ab)
    treated = members.filter(group=Group.TREATMENT)
    sizes = Counter(treated.exclude(variant="").values_list("variant", flat=True))
    assert set(sizes) == {"A", "B"} and abs(sizes["A"] - sizes["B"]) <= 1
    assert 0.25 < sum(sizes.values()) / treated.count() < 0.55  # about 40 % of treatment
    assert not members.filter(group=Group.CONTROL).exclude(variant="").exists()

    stats = services.campaign_send(ab.pk, now=daytime)
    assert stats["sent"] == sum(sizes.values()) == len(smtp_server.messages)
    subjects = Counter(m["Subject"] for m in smtp_server.messages)
    assert subjects == {"主题 A": sizes["A"], "主题 B": sizes["B"]}
    assert services.campaign_send(ab.pk, now=daytime)["sent"] == 0  # the rest waits for the winner

    with pytest.raises(Conflict):
        services.ab_decide(campaign_id=ab.pk, now=daytime + dt.timedelta(hours=3), queue=False)
    # Variant B's readers click far more often.
    variant_of = dict(members.values_list("customer_id", "variant"))
    clicks = [m.pk for m in Message.objects.filter(campaign=ab)
              if (variant_of[m.customer_id] == "B" and m.pk % 10 < 6) or (variant_of[m.customer_id] == "A"
                                                                         and m.pk % 10 == 0)]
    Message.objects.filter(pk__in=clicks).update(clicked_at=daytime + dt.timedelta(hours=1))
    table = selectors.ab_results(ab, now=daytime + dt.timedelta(hours=4))
    assert [r["label"] for r in table["variants"]] == ["A", "B"]
    assert table["variants"][1]["click_rate"] > 0.4 > 0.2 > table["variants"][0]["click_rate"]

    decided = services.ab_decide(campaign_id=ab.pk, now=daytime + dt.timedelta(hours=4), queue=False)
    assert decided.ab_winner == "B" and decided.ab_decision["significant"] is True
    assert decided.ab_decision["p_value"] < 0.05
    event = OutboxEvent.objects.get(name="campaign.variant_chosen")
    assert event.payload["winner"] == "B" and event.payload["criterion"] == "click_rate"
    assert services.ab_decide(campaign_id=ab.pk, now=daytime + dt.timedelta(hours=5)).ab_winner == "B"

    # A worker killed mid-way through the rest: one claimed row is left "sending".
    before = len(smtp_server.messages)
    services.campaign_send(ab.pk, now=daytime + dt.timedelta(hours=4), limit=10)
    Message.objects.filter(pk=Message.objects.filter(campaign=ab, status=MessageStatus.SENT)
                           .order_by("-pk").values("pk")[:1]).update(status=MessageStatus.SENDING)
    services.campaign_send(ab.pk, now=daytime + dt.timedelta(hours=4))
    rest = treated.filter(variant="").count()
    assert len(smtp_server.messages) - before == rest
    per_customer = Counter(m["To"] for m in smtp_server.messages)
    assert max(per_customer.values()) == 1 and len(per_customer) == treated.count()
    assert Counter(m["Subject"] for m in smtp_server.messages[before:]) == {"主题 B": rest}
    assert not treated.filter(status="queued").exists()


def test_not_significant_picks_variant_a_and_says_so(admin_user, smtp_server, ab, daytime):
    services.campaign_launch(actor=admin_user, campaign=ab, queue=False, now=daytime)
    services.campaign_send(ab.pk, now=daytime)
    for message in Message.objects.filter(campaign=ab).order_by("pk")[:3]:
        services.message_click(token=message.token, url="https://shop.example.cn/")
    decided = services.ab_decide(campaign_id=ab.pk, now=daytime + dt.timedelta(hours=4), queue=False)
    assert decided.ab_winner == "A" and decided.ab_decision["significant"] is False
    assert services.ab_decide_due(now=daytime + dt.timedelta(hours=6)) == 0  # already decided
    services.campaign_send(ab.pk, now=daytime + dt.timedelta(hours=4))
    rest = CampaignMember.objects.filter(campaign=ab, group=Group.TREATMENT, variant="").count()
    assert Counter(m["Subject"] for m in smtp_server.messages)["主题 A"] == rest + CampaignMember.objects.filter(
        campaign=ab, variant="A").count()


def test_campaign_page_states_the_rule_and_the_numbers(client, admin_user, ab, daytime):
    client.force_login(admin_user)
    page = client.get(f"/marketing/campaigns/{ab.pk}/").content.decode()
    assert ("Test slice: 40 % of the treatment group, split evenly between 2 variants. After 4 hours the variant "
            "with the highest click rate is sent to the rest; if the difference is not significant (χ² test, "
            "p ≥ 0.05), variant A is sent.") in page
    services.campaign_launch(actor=admin_user, campaign=ab, queue=False, now=daytime)
    services.ab_decide(campaign_id=ab.pk, now=daytime + dt.timedelta(hours=4), queue=False)
    page = client.get(f"/marketing/campaigns/{ab.pk}/").content.decode()
    assert "No significant difference (p = —): variant A, the stated default, was sent to the rest." in page
    form = client.post("/marketing/campaigns/new/", {"name": "AB2", "channel": "email",
                                                     "template_id": ab.template_id, "variant_b": ab.template_id,
                                                     "holdout_percent": "10", "attribution_days": "14", "cost": "0",
                                                     "ab_test_percent": "20", "ab_wait_hours": "24",
                                                     "ab_criterion": "open_rate"})
    assert form.status_code == 422 and "Choose 2 to 4 different templates." in form.content.decode()


def test_form_reshown_with_errors_keeps_the_variant_choices(client, admin_user, ab):
    client.force_login(admin_user)
    b = ab.variants.get(label="B").template
    c = _template(admin_user, "主题 C")
    form = client.post("/marketing/campaigns/new/", {"name": "", "channel": "email", "template_id": ab.template_id,
                                                     "variant_b": b.pk, "variant_c": c.pk, "variant_d": "",
                                                     "holdout_percent": "10", "attribution_days": "14", "cost": "0",
                                                     "ab_test_percent": "20", "ab_wait_hours": "24",
                                                     "ab_criterion": "open_rate"})
    assert form.status_code == 422
    page = form.content.decode()
    selected = {name: re.findall(r'<option value="(\d*)" selected>', select)
                for name, select in re.findall(r'name="(variant_[bcd])">(.*?)</select>', page)}
    assert selected == {"variant_b": [str(b.pk)], "variant_c": [str(c.pk)], "variant_d": []}
