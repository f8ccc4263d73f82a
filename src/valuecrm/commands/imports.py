"""`valuecrm import customers|orders|products|interactions FILE`: the import engine from the shell."""

import json
from enum import StrEnum
from pathlib import Path

import typer


class Kind(StrEnum):
    customers = "customers"
    orders = "orders"
    products = "products"
    interactions = "interactions"


class Key(StrEnum):
    email = "email"
    phone = "phone"
    external_id = "external_id"


def import_file(
    kind: Kind = typer.Argument(..., help="What the file holds."),
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CSV (UTF-8/GBK/UTF-16, any delimiter), XLSX, JSON or JSON Lines."),
    mapping: Path | None = typer.Option(None, "--mapping", exists=True, dir_okay=False,
                                        help='JSON file {"column": "field"}; default: suggested.'),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count; write nothing."),
    partial: bool = typer.Option(False, "--partial", help="Import the valid rows, report the rest."),
    key: Key | None = typer.Option(None, "--key", help="Update existing customers matched on this."),
    source: str = typer.Option("import", "--source", help="Source system name."),
    dayfirst: bool = typer.Option(False, "--dayfirst", help="Read 05/03/2024 as 5 March."),
    decimal_comma: bool = typer.Option(False, "--decimal-comma", help="Read 1.234,50 as 1234.50."),
    on_duplicate: str = typer.Option("auto", "--on-duplicate",
                                     help="auto | create | skip | merge for likely duplicates."),
    user: str = typer.Option("", "--user", help="Import as this user (default: first admin)."),
    errors_to: Path | None = typer.Option(None, "--errors", help="Write the failed rows here (CSV)."),
):
    """Import a file; all or nothing unless --partial. Re-importing the same file changes nothing."""
    from valuecrm.cli import django_setup

    django_setup()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from valuecrm.accounts.models import User
    from valuecrm.common.errors import DomainError
    from valuecrm.imports import selectors, services

    console = Console(stderr=True)
    account = (User.objects.filter(username=user).first() if user
               else User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first())
    if account is None:
        console.print(f"[red]No such user: {user or '(no administrator exists)'}[/red]")
        raise typer.Exit(2)
    try:
        mapping_value = json.loads(mapping.read_text(encoding="utf-8")) if mapping else None
    except ValueError as exc:
        console.print(f"[red]--mapping: not valid JSON ({exc})[/red]")
        raise typer.Exit(2) from None
    options = {"mode": "partial" if partial else "all", "source": source, "dayfirst": dayfirst,
               "decimal_comma": decimal_comma, "on_duplicate": on_duplicate}
    if key is not None:
        options["key"] = key.value

    try:
        with open(path, "rb") as handle:
            run = services.import_upload(actor=account, kind=kind.value, name=path.name,
                                         chunks=iter(lambda: handle.read(1 << 20), b""))
        run = services.import_configure(actor=account, run=run, mapping=mapping_value,
                                        options=options)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task(f"{kind.value} ← {path.name}", total=None)
            run = services.import_run_now(
                actor=account, run=run, dry_run=dry_run,
                on_progress=lambda values: progress.update(task, completed=values["processed"]))
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        for where, messages in exc.errors.items():
            for message in messages:
                console.print(f"  {where}: {message}")
        raise typer.Exit(1) from None

    seconds = (run.finished_at - run.started_at).total_seconds() if run.started_at else 0
    typer.echo(
        f"Import #{run.pk} {run.status}: {run.total_rows:,} rows — {run.created_count:,} created, "
        f"{run.updated_count:,} updated, {run.unchanged_count:,} unchanged, "
        f"{run.skipped_count:,} skipped, {run.failed_count:,} with errors "
        f"({seconds:.1f} s)."
    )
    if run.detail:
        typer.echo(run.detail)
    for error in selectors.import_errors(run, limit=20):
        typer.echo(f"  row {error.row_number}{' · ' + error.column if error.column else ''}: "
                   f"{error.reason}", err=True)
    if errors_to and run.failed_count:
        with open(errors_to, "w", encoding="utf-8", newline="") as out:
            out.writelines(selectors.error_csv_lines(run))
        typer.echo(f"Failed rows written to {errors_to}.")
    if run.status == "failed":
        raise typer.Exit(1)
