"""Consent ledger: append-only rows, derived state, the legacy booleans kept in step, opt-outs."""

import pytest

from valuecrm.common.errors import NotFound, PermissionDenied, ValidationFailed
from valuecrm.customers import services as cs
from valuecrm.customers.models import Customer
from valuecrm.privacy import selectors
from valuecrm.privacy.models import ConsentRecord, ConsentState, ConsentText
from valuecrm.privacy.services import consent_follow_legacy, consent_record, consent_text_publish


@pytest.fixture
def customer(rep_north):
    return cs.customer_create(actor=rep_north, data={"name": "Li Lei", "email": "li.lei@example.cn"})


def test_nothing_said_means_the_defaults(customer):
    assert not selectors.can_contact(customer, "email")  # marketing is opt-in
    assert selectors.can_contact(customer, "email", "service")  # service rests on the contract
    assert selectors.allows_personalisation(customer)  # Art. 24 opt-outs
    assert selectors.allows_automated_decisions(customer)
    assert not selectors.consent_granted(customer, "any", "sensitive_data")  # Art. 29: explicit


def test_grant_then_withdraw_appends_and_derives(customer, rep_north, admin_user):
    text = consent_text_publish(actor=admin_user, purpose="marketing", body="We may e-mail you offers.",
                                body_zh="我们可能向您发送优惠信息。")
    first = consent_record(actor=rep_north, customer=customer, channel="email", purpose="marketing",
                           granted=True, source="form")
    assert first.text == text and first.actor == rep_north
    assert selectors.can_contact(customer, "email")
    assert Customer.objects.get(pk=customer.pk).consent_email is True
    second = consent_record(actor=rep_north, customer=customer, channel="email", purpose="marketing",
                            granted=False, source="unsubscribe", reference="campaign:12")
    assert not selectors.can_contact(customer, "email")
    assert Customer.objects.get(pk=customer.pk).consent_email is False
    ledger = list(selectors.consent_ledger(customer))
    assert [r.pk for r in ledger] == [second.pk, first.pk]  # both kept, newest first
    assert ConsentState.objects.get(customer=customer, channel="email", purpose="marketing").record == second
    assert selectors.consent_cache_mismatches() == []


def test_wording_versions_are_kept_and_cited(customer, rep_north, admin_user):
    v1 = consent_text_publish(actor=admin_user, purpose="sensitive_data", body="v1 wording")
    v2 = consent_text_publish(actor=admin_user, purpose="sensitive_data", body="v2 wording")
    assert (v1.version, v2.version) == (1, 2)
    old = consent_record(actor=rep_north, customer=customer, channel="any", purpose="sensitive_data",
                         granted=True, text_id=v1.pk)
    new = consent_record(actor=rep_north, customer=customer, channel="any", purpose="sensitive_data",
                         granted=True)
    assert old.text == v1 and new.text == v2
    assert selectors.consent_granted(customer, "any", "sensitive_data")


def test_only_admins_write_wording(rep_north, manager_north):
    for user in (rep_north, manager_north):
        with pytest.raises(PermissionDenied):
            consent_text_publish(actor=user, purpose="marketing", body="x")
    assert not ConsentText.objects.exists()


def test_wording_errors_name_the_field(admin_user):
    with pytest.raises(ValidationFailed) as exc:
        consent_text_publish(actor=admin_user, purpose="nope", body="  ")
    assert set(exc.value.errors) == {"purpose", "body"}


@pytest.mark.parametrize(("data", "field"), [
    ({"channel": "fax", "purpose": "marketing"}, "channel"),
    ({"channel": "email", "purpose": "gossip"}, "purpose"),
    ({"channel": "any", "purpose": "marketing"}, "channel"),
    ({"channel": "email", "purpose": "automated_decisions"}, "channel"),
    ({"channel": "email", "purpose": "marketing", "source": "erasure"}, "source"),
    ({"channel": "email", "purpose": "marketing", "text_id": 999999}, "text_id"),
    ({"channel": "email", "purpose": "marketing", "granted": "yes"}, "granted"),
])
def test_bad_input_names_the_field_and_writes_nothing(customer, rep_north, data, field):
    args = {"granted": True, **data}
    with pytest.raises(ValidationFailed) as exc:
        consent_record(actor=rep_north, customer=customer, **args)
    assert field in exc.value.errors
    assert not ConsentRecord.objects.exists()


def test_wording_for_another_purpose_is_refused(customer, rep_north, admin_user):
    text = consent_text_publish(actor=admin_user, purpose="sensitive_data", body="x")
    with pytest.raises(ValidationFailed) as exc:
        consent_record(actor=rep_north, customer=customer, channel="email", purpose="marketing",
                       granted=True, text_id=text.pk)
    assert "text_id" in exc.value.errors


def test_permissions_and_visibility(customer, make_user, rep_south):
    viewer = make_user("viewer", role="read_only")
    with pytest.raises(PermissionDenied):
        consent_record(actor=viewer, customer=customer, channel="email", purpose="marketing", granted=True)
    with pytest.raises(NotFound):
        consent_record(actor=rep_south, customer=customer, channel="email", purpose="marketing", granted=True)
    assert not ConsentRecord.objects.exists()


def test_opt_out_of_personalisation_and_automated_decisions(customer, rep_north):
    consent_record(actor=rep_north, customer=customer, channel="email", purpose="marketing", granted=True)
    assert selectors.can_contact(customer, "email", "personalised_marketing")
    consent_record(actor=rep_north, customer=customer, channel="any", purpose="personalised_marketing",
                   granted=False)
    consent_record(actor=rep_north, customer=customer, channel="any", purpose="automated_decisions",
                   granted=False)
    assert selectors.can_contact(customer, "email")  # plain marketing still allowed
    assert not selectors.can_contact(customer, "email", "personalised_marketing")
    assert not selectors.allows_personalisation(customer)
    assert not selectors.allows_automated_decisions(customer)
    assert set(selectors.customers_opted_out("automated_decisions").values_list("customer_id", flat=True)) == {
        customer.pk}


def test_contactable_queryset_agrees_with_can_contact(rep_north, admin_user):
    people = [cs.customer_create(actor=rep_north, data={"name": f"p{i}"}) for i in range(6)]
    consent_record(actor=rep_north, customer=people[0], channel="sms", purpose="marketing", granted=True)
    consent_record(actor=rep_north, customer=people[1], channel="sms", purpose="marketing", granted=True)
    consent_record(actor=rep_north, customer=people[1], channel="sms", purpose="marketing", granted=False)
    consent_record(actor=rep_north, customer=people[2], channel="sms", purpose="marketing", granted=True)
    consent_record(actor=rep_north, customer=people[2], channel="any", purpose="personalised_marketing",
                   granted=False)
    consent_record(actor=rep_north, customer=people[3], channel="sms", purpose="service", granted=False)
    everyone = Customer.objects.filter(pk__in=[p.pk for p in people])
    for purpose in ("marketing", "personalised_marketing", "service"):
        expected = {p.pk for p in people if selectors.can_contact(p, "sms", purpose)}
        got = set(selectors.contactable(everyone, "sms", purpose).values_list("pk", flat=True))
        assert got == expected, purpose
    assert set(selectors.contactable(everyone, "sms").values_list("pk", flat=True)) == {people[0].pk, people[2].pk}


def test_customer_form_changes_reach_the_ledger(rep_north, django_capture_on_commit_callbacks):
    from valuecrm.common.events import ActorKind, acting

    # As the web middleware marks a page request (an earlier CLI test may have left "cli").
    with acting(ActorKind.USER, "web"), django_capture_on_commit_callbacks(execute=True):
        customer = cs.customer_create(actor=rep_north, data={"name": "Form Person", "consent_wechat": True})
    record = ConsentRecord.objects.get(customer=customer)
    assert (record.channel, record.purpose, record.granted, record.source) == ("wechat", "marketing", True, "form")
    with django_capture_on_commit_callbacks(execute=True):
        cs.customer_update(actor=rep_north, customer=customer, data={"consent_wechat": False, "city": "杭州"})
    assert not selectors.can_contact(customer, "wechat")
    assert ConsentRecord.objects.filter(customer=customer).count() == 2
    with django_capture_on_commit_callbacks(execute=True):  # a change without consent fields: no row
        cs.customer_update(actor=rep_north, customer=customer, data={"city": "南京"})
    assert ConsentRecord.objects.filter(customer=customer).count() == 2
    assert selectors.consent_cache_mismatches() == []


def test_bulk_written_booleans_are_followed(db):
    # As an import's or the demo's bulk writer leaves them: booleans, no ledger.
    a = Customer.objects.create(name="a", consent_email=True, consent_sms=True)
    b = Customer.objects.create(name="b")
    assert len(selectors.consent_cache_mismatches()) == 2
    assert consent_follow_legacy(None, source="import", reference="import:7") == 2
    assert consent_follow_legacy(None, source="import") == 0  # idempotent
    assert selectors.can_contact(a, "sms") and not selectors.can_contact(b, "email")
    assert set(ConsentRecord.objects.values_list("source", "reference")) == {("import", "import:7")}
    assert selectors.consent_cache_mismatches() == []


def test_migration_turns_the_booleans_into_ledger_rows(db):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("valuecrm.privacy.migrations.0002_consent_from_legacy_booleans")
    a = Customer.objects.create(name="a", consent_email=True, consent_wechat=True)
    Customer.objects.create(name="b")
    migration.forwards(apps, None)
    rows = set(ConsentRecord.objects.values_list("customer_id", "channel", "purpose", "granted", "source"))
    assert rows == {(a.pk, "email", "marketing", True, "migrated"), (a.pk, "wechat", "marketing", True, "migrated")}
    assert selectors.consent_cache_mismatches() == []
    assert selectors.can_contact(a, "wechat") and not selectors.can_contact(a, "sms")


def test_an_erased_person_cannot_be_granted_again(customer, rep_north, admin_user):
    from valuecrm.common.errors import Conflict
    from valuecrm.privacy.erasure import customer_erase

    customer_erase(actor=admin_user, customer=customer)
    with pytest.raises(Conflict):
        consent_record(actor=rep_north, customer=customer, channel="email", purpose="marketing", granted=True)


def test_an_import_with_consent_columns_reaches_the_ledger(admin_user, tmp_path, settings,
                                                           django_capture_on_commit_callbacks):
    from valuecrm.imports import services

    settings.DATA_DIR = tmp_path
    path = tmp_path / "c.csv"
    path.write_text("name,email,email consent,sms consent\n李雷,lilei@example.cn,yes,no\n韩梅梅,hmm@example.cn,no,yes\n",
                    encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.import_upload(actor=admin_user, kind="customers", name="c.csv", chunks=[path.read_bytes()])
        run = services.import_configure(actor=admin_user, run=run)
        services.import_run_now(actor=admin_user, run=run)
    li, han = Customer.objects.get(name="李雷"), Customer.objects.get(name="韩梅梅")
    assert li.consent_email and han.consent_sms  # the import wrote the booleans
    assert selectors.can_contact(li, "email") and not selectors.can_contact(li, "sms")
    assert selectors.can_contact(han, "sms") and not selectors.can_contact(han, "email")
    sources = set(ConsentRecord.objects.values_list("source", "reference"))
    assert sources == {("import", f"import:{run.pk}")}
    assert selectors.consent_cache_mismatches() == []
