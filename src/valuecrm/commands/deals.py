"""`valuecrm deals`: evaluate and retrain the learned win probability; run the pool sweep."""

import json

import typer

app = typer.Typer(help="Deals: win-probability model and the 公海 pool.", no_args_is_help=True)


def _figures(pipeline, result) -> dict:
    return {"pipeline_id": pipeline.pk, "pipeline": pipeline.name, "n_train": result["n_train"],
            "n_test": result["n_test"], "chosen": result["chosen"], "brier_model": result["brier_model"],
            "brier_stage_default": result["brier_stage_default"], "roc_auc": result["roc_auc"],
            "brier_naive_bayes": result.get("brier_naive_bayes"), "brier_logistic": result.get("brier_logistic")}


@app.command("evaluate")
def evaluate(pipeline: int = typer.Option(None, "--pipeline", help="One pipeline id (default: every active one)."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Train on the earlier closed deals, score the later ones (held-out period); print the figures."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.deals.models import Pipeline
    from valuecrm.deals.win_model import evaluate_pipeline

    pipelines = Pipeline.objects.filter(active=True)
    if pipeline is not None:
        pipelines = pipelines.filter(pk=pipeline)
    out = [_figures(p, evaluate_pipeline(p)) for p in pipelines]
    if not out:
        typer.echo("No such pipeline.", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(out[0] if pipeline is not None else out, indent=2))
        return
    for row in out:
        typer.echo(f"{row['pipeline']}: chosen {row['chosen']}, Brier {row['brier_model']:.4f} vs stage default "
                   f"{row['brier_stage_default']:.4f}, ROC-AUC {row['roc_auc']}, "
                   f"train {row['n_train']} / test {row['n_test']}")


@app.command("retrain")
def retrain():
    """Retrain every pipeline's model now and re-predict the open deals."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.deals.win_model import retrain_all

    for row in retrain_all():
        typer.echo(f"pipeline {row.pipeline_id}: {row.chosen} (Brier {row.brier_model})")


@app.command("sweep")
def sweep():
    """Reclaim (or warn about) customers past their pool rule's days without a follow-up."""
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.deals.services import pool_sweep

    typer.echo(json.dumps(pool_sweep()))
