"""`valuecrm privacy verify` and `valuecrm privacy erase`; the demo's consents reach the ledger."""

import pytest
from typer.testing import CliRunner

from valuecrm.cli import app
from valuecrm.customers.models import Customer
from valuecrm.privacy.models import ConsentRecord, Erasure
from valuecrm.privacy.selectors import can_contact, consent_cache_mismatches

pytestmark = pytest.mark.django_db(transaction=True)


def test_verify_finds_and_fixes_booleans_without_ledger_rows():
    Customer.objects.create(name="bulk", consent_sms=True)
    runner = CliRunner()
    failing = runner.invoke(app, ["privacy", "verify"])
    assert failing.exit_code == 1 and "disagree" in failing.output
    fixed = runner.invoke(app, ["privacy", "verify", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert "Recorded 1 ledger rows" in fixed.output
    assert ConsentRecord.objects.get().source == "migrated"


def test_erase_from_the_shell(admin_user, rep_north):
    customer = Customer.objects.create(name="Shell Person", email="shell.person@example.cn")
    runner = CliRunner()
    refused = runner.invoke(app, ["privacy", "erase", str(customer.pk), "--as", "rep_north"])
    assert refused.exit_code == 2 and not Erasure.objects.exists()
    done = runner.invoke(app, ["privacy", "erase", str(customer.pk), "--as", "root"])
    assert done.exit_code == 0, done.output
    assert "shell.person" not in done.output
    assert Customer.objects.get(pk=customer.pk).email == ""


def test_demo_consents_are_in_the_ledger():
    result = CliRunner().invoke(app, ["demo", "--customers", "40", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert consent_cache_mismatches() == []
    flagged = Customer.objects.filter(consent_email=True).first()
    assert flagged is not None and can_contact(flagged, "email")
