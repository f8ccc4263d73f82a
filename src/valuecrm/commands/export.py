"""`valuecrm export account DIR`: the whole account as JSON Lines, one file per table."""

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Export data.", no_args_is_help=True)


@app.command("account")
def export_account(directory: Path = typer.Argument(..., help="Folder to write the .jsonl files into.")):
    """Write customers, orders, … and manifest.json into DIRECTORY (created if missing)."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.exports.exports import account_export

    console = Console()
    if directory.exists() and not directory.is_dir():
        console.print(f"[red]{directory} exists and is not a folder.[/red]")
        raise typer.Exit(2)
    counts = account_export(directory)
    table = Table(title=f"Account export in {directory}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, n in counts.items():
        table.add_row(f"{name}.jsonl", f"{n:,}")
    console.print(table)
