"""`valuecrm demo`: fill the database with the demo dataset."""

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


def demo(
    customers: int = typer.Option(5000, "--customers", min=1, help="How many customers to create."),
    seed: int = typer.Option(42, "--seed", help="Same seed, same data."),
    if_empty: bool = typer.Option(
        False, "--if-empty", help="Do nothing when the database already has customers."
    ),
    password: str = typer.Option(
        "valuecrm-demo", "--password", help="Password of the generated demo users."
    ),
):
    """Create a believable demo: customers, 18 months of orders, a living timeline."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.demo.generate import STEPS, demo_data_exists, demo_generate

    console = Console()
    if if_empty and demo_data_exists():
        console.print("Customers already exist; demo data left as it is (--if-empty).")
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("Demo data", total=len(STEPS))

        def report(step: str) -> None:
            progress.update(task, completed=STEPS.index(step), description=f"Demo data: {step}")

        result = demo_generate(customers=customers, seed=seed, password=password, progress=report)
        # The generator writes the consent booleans in bulk; the ledger records them as migrated.
        from valuecrm.privacy.models import Source
        from valuecrm.privacy.services import consent_follow_legacy

        consent_follow_legacy(None, source=Source.MIGRATED, reference="demo")
        progress.update(task, completed=len(STEPS), description="Demo data: done")
    console.print(
        f"Created {result.customers:,} customers ({result.organisations:,} organisations, "
        f"{result.contacts:,} contact persons), {result.orders:,} orders with "
        f"{result.order_lines:,} lines, {result.interactions:,} interactions, {result.tasks:,} tasks, "
        f"{result.notes:,} notes and {result.users} users in {result.seconds:.1f} s."
    )
