"""Templates in both languages: each customer receives the version in their preferred
language (blank = the campaign's own template), against the real SMTP server."""

import pytest

from valuecrm.common.errors import ValidationFailed
from valuecrm.marketing import services
from valuecrm.marketing.models import Message, MessageTemplate

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(admin_user):
    zh = services.template_create(actor=admin_user, data={
        "name": "夏季", "channel": "email", "language": "zh-hans", "subject": "夏季新品",
        "body_text": "您好 {{ unsubscribe_url }}"})
    en = services.template_create(actor=admin_user, data={
        "name": "Summer", "channel": "email", "language": "en", "subject": "New for summer",
        "body_text": "Hello {{ unsubscribe_url }}", "translation_id": zh.pk})
    return MessageTemplate.objects.get(pk=zh.pk), MessageTemplate.objects.get(pk=en.pk)


def test_the_link_is_kept_both_ways_and_validated(admin_user, pair):
    zh, en = pair
    assert (zh.translation_id, en.translation_id) == (en.pk, zh.pk)
    other_zh = services.template_create(actor=admin_user, data={
        "name": "秋季", "channel": "email", "language": "zh-hans", "subject": "秋季", "body_text": "x"})
    sms = services.template_create(actor=admin_user, data={"name": "s", "channel": "sms", "language": "en",
                                                           "body_text": "hi"})
    for tid, message in ((other_zh.pk, "The translation must be in the other language."),
                         (sms.pk, "The template is for another channel."), (zh.pk, "No such template."),
                         (999999, "No such template."), ("3", "No such template.")):
        with pytest.raises(ValidationFailed) as exc:
            services.template_update(actor=admin_user, template=zh, data={"translation_id": tid})
        assert exc.value.errors == {"translation_id": [message]}
    # Re-linking zh to another English template lets the old partner go.
    en2 = services.template_create(actor=admin_user, data={
        "name": "Summer 2", "channel": "email", "language": "en", "subject": "S2", "body_text": "x"})
    services.template_update(actor=admin_user, template=zh, data={"translation_id": en2.pk})
    links = dict(MessageTemplate.objects.filter(pk__in=[zh.pk, en.pk, en2.pk]).values_list("pk", "translation_id"))
    assert links == {zh.pk: en2.pk, en.pk: None, en2.pk: zh.pk}
    services.template_update(actor=admin_user, template=zh, data={"translation_id": None})
    links = dict(MessageTemplate.objects.filter(pk__in=[zh.pk, en2.pk]).values_list("pk", "translation_id"))
    assert links == {zh.pk: None, en2.pk: None}


@pytest.mark.parametrize("default", ["zh", "en"])
def test_each_customer_gets_their_language(admin_user, smtp_server, make_customers, pair, daytime, default):
    zh, en = pair
    customers = {lang: make_customers(1, prefix=f"{lang or 'none'}-", preferred_language=lang)[0]
                 for lang in ("zh-hans", "en", "")}
    template = zh if default == "zh" else en
    campaign = services.campaign_create(actor=admin_user, data={"name": "lang", "template_id": template.pk,
                                                                "holdout_percent": 0})
    services.campaign_launch(actor=admin_user, campaign=campaign, queue=False, now=daytime)
    assert services.campaign_send(campaign.pk, now=daytime)["sent"] == 3
    subjects = {m["To"]: m["Subject"] for m in smtp_server.messages}
    blank = "夏季新品" if default == "zh" else "New for summer"
    assert subjects == {customers["zh-hans"].email: "夏季新品", customers["en"].email: "New for summer",
                        customers[""].email: blank}
    used = dict(Message.objects.filter(campaign=campaign).values_list("customer_id", "template_id"))
    assert used == {customers["zh-hans"].pk: zh.pk, customers["en"].pk: en.pk, customers[""].pk: template.pk}


def test_a_single_message_follows_the_language_too(admin_user, smtp_server, make_customers, pair, daytime):
    zh, _en = pair
    (customer,) = make_customers(1, preferred_language="en")
    message = services.message_send(actor=admin_user, customer=customer, template=zh, key="k1", now=daytime)
    assert smtp_server.messages[-1]["Subject"] == "New for summer" and message.template_id == _en.pk


def test_template_form_links_the_translation(client, admin_user, pair):
    zh, en = pair
    client.force_login(admin_user)
    page = client.get(f"/marketing/templates/{zh.pk}/").content.decode()
    assert f'<option value="{en.pk}" selected>Summer (English, Email)</option>' in page
    r = client.post(f"/marketing/templates/{zh.pk}/", {"name": "夏季", "channel": "email", "language": "zh-hans",
                                                        "subject": "夏季新品", "body_text": "您好",
                                                        "body_html": "", "translation_id": ""})
    assert r.status_code == 302
    assert MessageTemplate.objects.get(pk=en.pk).translation_id is None
