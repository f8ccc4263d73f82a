"""`valuecrm privacy`: check the consent cache against the ledger; erase a person from the shell."""

import typer
from rich.console import Console

app = typer.Typer(help="PIPL rights: consent ledger checks and erasure.", no_args_is_help=True)


@app.command("verify")
def verify(
    fix: bool = typer.Option(False, "--fix", help="Record ledger rows for consent booleans written without one."),
):
    """Compare the consent cache and the legacy booleans with the ledger (exit 1 on a mismatch)."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.privacy.models import Source
    from valuecrm.privacy.selectors import consent_cache_mismatches
    from valuecrm.privacy.services import consent_follow_legacy

    console = Console()
    if fix:
        appended = consent_follow_legacy(None, source=Source.MIGRATED, reference="valuecrm privacy verify")
        console.print(f"Recorded {appended:,} ledger rows for booleans written without one.")
    problems = consent_cache_mismatches()
    if problems:
        console.print(f"[red]{len(problems):,} consent entries disagree with the ledger[/red] "
                      f"(first: {problems[0]['key']}, {problems[0]['problem']}).")
        raise typer.Exit(1)
    console.print("Consent cache and booleans agree with the ledger.")


@app.command("erase")
def erase(
    customer_id: int = typer.Argument(..., help="The customer's record number."),
    username: str = typer.Option(..., "--as", help="The administrator who erases (must hold privacy.erase)."),
    reason: str = typer.Option("request", "--reason", help="request, consent_withdrawn, retention or unlawful."),
):
    """Anonymise one person everywhere and print the proof (no personal data)."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.accounts.models import User
    from valuecrm.common.errors import DomainError
    from valuecrm.customers.models import Customer
    from valuecrm.privacy.erasure import customer_erase

    console = Console()
    actor = User.objects.filter(username=username, is_active=True).first()
    customer = Customer.objects.filter(pk=customer_id).first()
    if actor is None or customer is None:
        console.print("[red]Unknown user or customer.[/red]")
        raise typer.Exit(2)
    try:
        proof = customer_erase(actor=actor, customer=customer, reason=reason)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red] {exc.errors or ''}")
        raise typer.Exit(2) from None
    console.print(f"Erased customer #{proof.customer_ref} (proof #{proof.pk}): {proof.rows_touched:,} rows in "
                  f"{len(proof.tables)} tables, {proof.orders_kept:,} orders kept.")
