"""`valuecrm import-cdnow PATH`: load the public CDNOW transaction log."""

from pathlib import Path

import typer


def import_cdnow(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="CDNOW_master.txt or CDNOW_sample.txt"),
    source: str = typer.Option("cdnow", "--source", help="Source name for customers and orders."),
):
    """Import the CDNOW log (master or sample format) as customers and orders; re-runs add nothing."""
    import time

    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.common.errors import ValidationFailed
    from valuecrm.orders.cdnow import cdnow_import

    started = time.perf_counter()
    try:
        result = cdnow_import(path, source=source)
    except ValidationFailed as exc:
        typer.echo(f"Import failed: {exc.detail}", err=True)
        for where, messages in exc.errors.items():
            for message in messages:
                typer.echo(f"  {where}: {message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"CDNOW {result.file_format} file: {result.rows:,} rows → {result.customers_created:,} new "
        f"customers, {result.orders_created:,} new orders ({result.orders_existing:,} already "
        f"imported) in {time.perf_counter() - started:.1f} s."
    )
