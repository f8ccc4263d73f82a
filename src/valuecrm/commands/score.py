"""`valuecrm score`: score every customer now (CLV, P(alive), churn risk, stages, tiers, alerts)."""

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def score(
    as_of: str = typer.Option("", "--as-of", help="Score as of this day (YYYY-MM-DD); default today."),
    unit: str = typer.Option("D", "--unit", help="Time unit of the purchase model: D (days) or W (weeks)."),
    model: str = typer.Option("auto", "--model", help="auto (best on holdout), bgnbd or paretonbd."),
    engine: str = typer.Option("", "--engine",
                               help="Where the summary is computed: database (the CRM's own), duckdb or "
                                    "spark; default VALUECRM_SCORING_ENGINE."),
    orders: str = typer.Option("", "--orders", help="Read the order history from this Parquet file or "
                                                    "directory instead of the CRM (with --engine duckdb or "
                                                    "spark; Spark also reads s3a://, hdfs:// … URLs)."),
    output: str = typer.Option("", "--output", help="Write the scores to Parquet instead of the CRM (with "
                                                    "--orders): a file, a directory (ending in / or existing: "
                                                    "part files), or a URL pyarrow opens (file://, s3://, "
                                                    "gs://, hdfs://, abfs://)."),
    spark_master: str = typer.Option("", "--spark-master",
                                     help="Spark master for --engine spark: local[2], spark://host:7077, yarn, "
                                          "or Spark Connect sc://host:15002; default VALUECRM_SPARK_MASTER."),
):
    """Run a scoring run in this process, with a progress bar."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.common.errors import Conflict, ValidationFailed
    from valuecrm.insights.models import RunStatus
    from valuecrm.insights.services import score_run_create, score_run_execute
    from valuecrm.insights.services.scoring import score_to_parquet, scoring_engine_check

    console = Console()

    def refuse(exc: ValidationFailed):
        for field, messages in exc.errors.items():
            console.print(f"[red]--{field.replace('_', '-')}: {escape(' '.join(messages))}[/red]")
        raise typer.Exit(2) from None

    if output and not orders:
        refuse(ValidationFailed("", errors={"output": ["--output writes a warehouse run: give --orders too."]}))
    run = None
    if not output:
        try:
            scoring_engine_check(engine.lower() or None, orders or None)
            run = score_run_create(as_of=as_of or None, unit=unit.upper(), model_choice=model.lower())
        except ValidationFailed as exc:
            refuse(exc)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console, transient=bool(output)) as progress:
        task = progress.add_task("Scoring", total=100)

        def report(percent: int, step: str) -> None:
            progress.update(task, completed=percent, description=f"Scoring: {step.replace('_', ' ')}")

        if output:
            try:
                done = score_to_parquet(orders=orders, output=output, engine=engine.lower() or "duckdb",
                                        as_of=as_of or None, unit=unit.upper(), model_choice=model.lower(),
                                        progress=report, spark_master=spark_master or None)
            except ValidationFailed as exc:
                refuse(exc)
            console.print(f"Scored {done.n_customers:,} buyers ({done.n_orders:,} orders, "
                          f"model {done.transaction_model}) → {done.output}")
            steps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in done.timings.get("cpu", {}).items())
            console.print(f"CPU seconds by step: {steps}", soft_wrap=True)
            return
        try:
            run = score_run_execute(run, progress=report, engine=engine.lower() or None, orders=orders or None,
                                    spark_master=spark_master or None)
        except ValidationFailed as exc:
            refuse(exc)
        except Conflict as exc:
            console.print(f"[red]{exc.detail}[/red]")
            raise typer.Exit(3) from None
    if run.status != RunStatus.SUCCEEDED:
        console.print(f"[red]Scoring run #{run.pk} failed: {run.error}[/red]")
        raise typer.Exit(1)
    table = Table(title=f"Scoring run #{run.pk} as of {run.as_of}")
    table.add_column("")
    table.add_column("", justify="right")
    for label, value in (
        ("customers", f"{run.n_customers:,}"), ("buyers", f"{run.n_buyers:,}"),
        ("orders", f"{run.n_orders:,}"), ("model", run.transaction_model or "-"),
        ("customer equity", f"{run.customer_equity:,.2f}"), ("stage changes", f"{run.n_stage_changes:,}"),
        ("new alerts", f"{run.n_alerts:,}"), ("seconds", f"{run.duration_seconds:.1f}"),
    ):
        table.add_row(label, value)
    console.print(table)
