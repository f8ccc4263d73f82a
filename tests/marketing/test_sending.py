"""Sending against a real SMTP server on 127.0.0.1: consent, caps, quiet hours,
one-click unsubscribe, hold-out, and no double send after a killed worker resumes."""

import datetime as dt

import pytest
from django.utils import timezone

from valuecrm.common.models import OutboxEvent
from valuecrm.marketing import channels, consent, services
from valuecrm.marketing.models import (
    CampaignMember,
    Group,
    MemberStatus,
    Message,
    MessageStatus,
    Suppression,
)

pytestmark = pytest.mark.django_db


def _campaign(actor, template, **kw):
    data = {"name": "夏季活动", "channel": "email", "template_id": template.pk, "holdout_percent": 10}
    data.update(kw)
    return services.campaign_create(actor=actor, data=data)


def test_launch_sends_to_treatment_with_consent_only(admin_user, smtp_server, make_customers, email_template,
                                                     daytime):
    make_customers(60, consent=True)
    make_customers(5, consent=False, prefix="no")
    campaign = _campaign(admin_user, email_template)
    services.campaign_launch(actor=admin_user, campaign=campaign, queue=False, now=daytime)
    stats = services.campaign_send(campaign.pk, now=daytime)
    members = CampaignMember.objects.filter(campaign=campaign)
    treated = members.filter(group=Group.TREATMENT)
    consented_treated = treated.filter(customer__consent_email=True)
    assert stats["sent"] == consented_treated.count() == len(smtp_server.messages)
    assert members.filter(group=Group.CONTROL).count() + treated.count() == 65
    assert set(members.filter(group=Group.CONTROL).values_list("status", flat=True)) <= {MemberStatus.HELD_OUT}
    assert treated.filter(customer__consent_email=False, status=MemberStatus.NO_CONSENT).count() == \
        treated.filter(customer__consent_email=False).count()
    recipients = {m["To"] for m in smtp_server.messages}
    assert not any(r.startswith("no") for r in recipients)
    controls = set(members.filter(group=Group.CONTROL).values_list("customer__email", flat=True))
    assert not recipients & controls
    mail = smtp_server.messages[0]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["List-Unsubscribe"].startswith("<http://testserver/m/u/")
    html = mail.get_body(("html",)).get_content()
    assert "<script" not in html and 'style="color: #c00' in html.replace("color:#c00", "color: #c00")
    assert "/m/c/" in html and "/m/o/" in html
    assert mail["Subject"].endswith("，夏季新品") and "朋友" not in mail["Subject"]
    assert OutboxEvent.objects.filter(name="message.sent").count() == stats["sent"]
    assert OutboxEvent.objects.filter(name="campaign.launched").count() == 1


def test_no_personalised_marketing_gets_the_fallbacks(admin_user, smtp_server, make_customers, email_template,
                                                      daytime):
    make_customers(3)
    consent.register_contact_policy(lambda qs, ch, pu: qs.filter(consent_email=True), lambda c: False)
    try:
        message = services.message_send(actor=admin_user, customer=make_customers(1, prefix="p")[0],
                                        template=email_template, key="t1", now=daytime)
    finally:
        # Back to the privacy app's own provider.
        from valuecrm.privacy.selectors import allows_personalisation, contactable
        consent.register_contact_policy(contactable, allows_personalisation)
    assert message.status == MessageStatus.SENT
    assert smtp_server.messages[-1]["Subject"] == "朋友，夏季新品"


def test_frequency_cap_and_quiet_hours(admin_user, smtp_server, make_customers, email_template, daytime):
    (customer,) = make_customers(1)
    for i in range(2):
        assert services.message_send(actor=admin_user, customer=customer, template=email_template,
                                     key=f"k{i}", now=daytime).status == MessageStatus.SENT
    # The third within 7 days is capped.
    assert services.message_send(actor=admin_user, customer=customer, template=email_template,
                                 key="k2", now=daytime) is None
    assert len(smtp_server.messages) == 2
    night = timezone.make_aware(dt.datetime(2026, 6, 3, 23, 30))
    (other,) = make_customers(1, prefix="q")
    assert services.message_send(actor=admin_user, customer=other, template=email_template, key="n1",
                                 now=night) is None
    campaign = _campaign(admin_user, email_template, holdout_percent=0)
    services.campaign_launch(actor=admin_user, campaign=campaign, queue=False, now=night)
    assert services.campaign_send(campaign.pk, now=night)["deferred"] is True
    assert len(smtp_server.messages) == 2
    assert services.quiet_hours_end(night) == timezone.make_aware(dt.datetime(2026, 6, 4, 8, 0))
    # The next morning it goes out; the capped customer is skipped.
    stats = services.campaign_send(campaign.pk, now=night + dt.timedelta(hours=9))
    assert stats["sent"] == 1
    assert CampaignMember.objects.get(campaign=campaign, customer=customer).status == MemberStatus.CAPPED


def test_one_click_unsubscribe_is_post_only_and_suppresses(client, admin_user, smtp_server, make_customers,
                                                           email_template, daytime):
    (customer,) = make_customers(1)
    message = services.message_send(actor=admin_user, customer=customer, template=email_template, key="u1",
                                    now=daytime)
    url = f"/m/u/{message.token}/"
    page = client.get(url)
    assert page.status_code == 200 and "退订" in page.content.decode()
    assert not Suppression.objects.exists()
    response = client.post(url, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert Suppression.objects.filter(customer=customer, channel="email").count() == 1
    assert OutboxEvent.objects.filter(name="customer.unsubscribed", customer_id=customer.pk).count() == 1
    client.post(url)  # idempotent
    assert OutboxEvent.objects.filter(name="customer.unsubscribed").count() == 1
    assert services.message_send(actor=admin_user, customer=customer, template=email_template, key="u2",
                                 now=daytime) is None
    assert client.put(url).status_code == 405


def test_open_pixel_and_click_redirect(client, admin_user, smtp_server, make_customers, email_template, daytime):
    (customer,) = make_customers(1)
    message = services.message_send(actor=admin_user, customer=customer, template=email_template, key="o1",
                                    now=daytime)
    assert client.get(f"/m/o/{message.token}.gif")["Content-Type"] == "image/gif"
    r = client.get(f"/m/c/{message.token}/?u=https%3A%2F%2Fshop.example.cn%2Fnew")
    assert r.status_code == 302 and r["Location"] == "https://shop.example.cn/new"
    assert client.get(f"/m/c/{message.token}/?u=https%3A%2F%2Fevil.example%2F").status_code == 400
    message.refresh_from_db()
    assert message.opened_at is not None and message.clicked_at is not None
    names = list(OutboxEvent.objects.filter(customer_id=customer.pk).values_list("name", flat=True))
    assert names.count("message.opened") == 1 and names.count("message.clicked") == 1


def test_a_killed_worker_resumes_without_double_sending(admin_user, smtp_server, make_customers, email_template,
                                                        daytime, monkeypatch, settings):
    settings.VALUECRM_MARKETING_SMTP_CONNECTIONS = 1  # one lane: the kill lands on a known message
    make_customers(250)
    campaign = _campaign(admin_user, email_template, holdout_percent=0)
    services.campaign_launch(actor=admin_user, campaign=campaign, queue=False, now=daytime)
    real = services._deliver
    calls = {"n": 0}

    def dying(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 150:
            raise KeyboardInterrupt("worker killed")
        return real(*args, **kw)

    monkeypatch.setattr(services, "_deliver", dying)
    with pytest.raises(KeyboardInterrupt):
        services.campaign_send(campaign.pk, now=daytime)
    monkeypatch.setattr(services, "_deliver", real)
    delivered_before = len(smtp_server.messages)
    assert delivered_before == 149
    stats = services.campaign_send(campaign.pk, now=daytime)
    addresses = [m["To"] for m in smtp_server.messages]
    assert len(addresses) == len(set(addresses))  # nobody twice
    # The forty claimed when the worker died (121–160: 29 delivered, the 150th not) are
    # failed, not resent: at most once. The other 90 still queued go out on the resume.
    assert services.CLAIM == 40
    assert stats["interrupted"] == 40
    assert stats["sent"] == 90
    assert len(addresses) == 239
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count() == 210
    failed = list(Message.objects.filter(campaign=campaign, status=MessageStatus.FAILED))
    assert len(failed) == 40 and all(m.reason.startswith("interrupted") for m in failed)
    assert sum(m.address in addresses for m in failed) == 29
    assert Message.objects.filter(campaign=campaign).count() == 250
    assert CampaignMember.objects.filter(campaign=campaign, status=MemberStatus.SENT).count() == 210
    assert services.campaign_send(campaign.pk, now=daytime)["sent"] == 0


def test_short_messages_go_through_a_signed_webhook(admin_user, webhook_receiver, make_customers, daytime):
    template = services.template_create(actor=admin_user, data={
        "name": "短信", "channel": "sms", "body_text": "{{ customer.name }}，会员日8折"})
    (customer,) = make_customers(1)
    message = services.message_send(actor=admin_user, customer=customer, template=template, key="s1", now=daytime)
    assert message.status == MessageStatus.SENT
    (hit,) = webhook_receiver
    assert hit["body"] == {"to": customer.phone, "text": f"{customer.name}，会员日8折", "id": "s1"}
    assert hit["headers"]["x-valuecrm-signature"] == channels.sign("s3cret", hit["raw"])
