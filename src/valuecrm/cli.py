"""The `valuecrm` command: serve, worker, migrate, demo, admin, tokens, imports, models."""

import os
import sys

import typer

app = typer.Typer(help="ValueCRM — a CRM whose core is customer value.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    import django

    django.setup()
    from valuecrm.common.events.context import ActorKind, set_origin

    set_origin(ActorKind.SYSTEM, "cli")


def _register_subapps():
    # Sub-apps owned by their domains; imported lazily so a broken optional part
    # never stops `valuecrm serve`.
    from valuecrm.commands.cdnow import import_cdnow
    from valuecrm.commands.demo import demo
    from valuecrm.commands.imports import import_file
    from valuecrm.commands.score import score

    app.command("demo")(demo)
    app.command("score")(score)
    app.command("import-cdnow")(import_cdnow)
    from valuecrm.commands.export import app as export_app

    app.add_typer(export_app, name="export")
    app.command("import")(import_file)
    from valuecrm.commands.backup import app as backup_app

    app.add_typer(backup_app, name="backup")
    from valuecrm.commands.privacy import app as privacy_app

    app.add_typer(privacy_app, name="privacy")
    from valuecrm.commands.keys import app as keys_app

    app.add_typer(keys_app, name="keys")
    from valuecrm.commands.deals import app as deals_app

    app.add_typer(deals_app, name="deals")
    try:
        from valuecrm.commands.model import app as model_app
    except ImportError:  # engine CLI not installed in this build
        return
    app.add_typer(model_app, name="model", help="Fit and score value models from files.")


@app.command()
def migrate():
    """Create or upgrade the database schema."""
    django_setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    with_worker: bool = typer.Option(True, help="Also run the background worker (scoring, imports, webhooks)."),
):
    """Serve the web app (gunicorn; static files via whitenoise) and, by default, the worker
    (restarted when it dies, stopped when serve stops)."""
    django_setup()
    import signal
    import subprocess

    from django.core.management import call_command

    from valuecrm.commands.supervise import WorkerSupervisor

    call_command("collectstatic", interactive=False, verbosity=0)
    supervisor = None
    if with_worker:
        # One command runs the whole app: jobs queued from the UI must not wait for
        # someone to start `valuecrm worker` by hand, nor for someone to restart it.
        supervisor = WorkerSupervisor([sys.executable, "-m", "valuecrm.cli", "worker"],
                                      log=lambda message: typer.echo(message, err=True)).start()
    typer.echo(f"ValueCRM is serving on http://{host}:{port}/")
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "valuecrm.config.wsgi:application",
         "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", "4",
         "--access-logfile", "-"])
    # Told to stop (kill, container stop): stop the web server gracefully, then the worker.
    signal.signal(signal.SIGTERM, lambda *_: web.terminate())
    try:
        web.wait()
    except KeyboardInterrupt:
        web.terminate()
        web.wait(timeout=30)
    finally:
        if supervisor is not None:
            supervisor.stop()


@app.command()
def worker():
    """Run the background worker (Huey consumer: scoring runs, imports, webhooks)."""
    django_setup()
    from django.core.management import call_command

    from valuecrm.imports.services import import_runs_recover
    from valuecrm.insights.services import score_runs_recover

    # Runs the previous worker died on are failed now, not a minute from now.
    import_runs_recover()
    score_runs_recover()

    call_command("run_huey")


@app.command()
def createadmin(
    username: str = typer.Option(..., prompt=True),
    password: str = typer.Option(..., prompt=True, hide_input=True),
):
    """Create (or reset) an administrator. Non-interactive when both options are given."""
    django_setup()
    from valuecrm.accounts.services import admin_ensure
    from valuecrm.common.errors import ValidationFailed

    try:
        _, created = admin_ensure(username=username, password=password)
    except ValidationFailed as exc:
        for message in exc.errors.get("password", [exc.detail]):
            typer.echo(f"Password refused: {message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{'Created' if created else 'Updated'} admin '{username}'.")


@token_app.command("create")
def token_create(user: str = typer.Option(..., "--user"), name: str = "cli",
                 days: int = typer.Option(0, help="Expire after this many days (0: until revoked).")):
    """Print a new API token for USER (shown once; only its hash is stored)."""
    django_setup()
    from valuecrm.accounts.models import User
    from valuecrm.accounts.services import api_token_create

    account = User.objects.filter(username=user).first()
    if account is None:
        typer.echo(f"No such user: {user}", err=True)
        raise typer.Exit(2)
    expires_at = None
    if days > 0:
        from datetime import timedelta

        from django.utils import timezone

        expires_at = timezone.now() + timedelta(days=days)
    _, raw = api_token_create(user=account, name=name, expires_at=expires_at)
    typer.echo(raw)


def manage():
    """`valuecrm-manage` → Django's manage.py, for migrations and the shell."""
    django_setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


_register_subapps()

if __name__ == "__main__":
    app()
