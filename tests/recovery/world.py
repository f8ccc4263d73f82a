"""Drive a real ValueCRM data dir from outside the test process (the crash tests and
bench/reliability.py): `python tests/recovery/world.py COMMAND [ARG]`, with
VALUECRM_DATA_DIR (and optionally DATABASE_URL) set. Prints one JSON line.

  setup                 migrate, create the admin "admin"
  seed N                N demo customers with their orders (for scoring)
  queue-import CSV      upload, map and queue a customers import for the worker
  queue-score           queue a scoring run for the worker (409 → {"conflict": ...})
  undo RUN              queue the undo of import RUN
  state                 runs, customers and orders, as the database has them
  read-load STOP OUT    read pages and the API (as an analyst) until the file STOP
                        exists; latencies and statuses to OUT (JSON)
"""

import json
import os
import sys
from pathlib import Path

ADMIN_PASSWORD = "crash-test-Passw0rd!"


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "valuecrm.config.settings")
    import django

    django.setup()


def _admin():
    from valuecrm.accounts.models import User

    return User.objects.get(username="admin")


def main(argv: list[str]) -> dict:
    _setup()
    command, arg = argv[0], (argv[1] if len(argv) > 1 else None)
    if command == "setup":
        from django.core.management import call_command

        from valuecrm.accounts.services import admin_ensure

        call_command("migrate", interactive=False, verbosity=0)
        admin_ensure(username="admin", password=ADMIN_PASSWORD)
        return {"ok": True}
    if command == "seed":
        from valuecrm.demo.generate import demo_generate

        result = demo_generate(customers=int(arg), seed=7, password=ADMIN_PASSWORD)
        return {"customers": result.customers, "orders": result.orders}
    if command == "queue-import":
        from valuecrm.imports import services

        admin = _admin()
        path = Path(arg)
        with open(path, "rb") as handle:
            run = services.import_upload(actor=admin, kind="customers", name=path.name,
                                         chunks=iter(lambda: handle.read(1 << 20), b""))
        run = services.import_configure(actor=admin, run=run, options={"mode": "all"})
        run = services.import_start(actor=admin, run=run)
        return {"run": run.pk}
    if command == "queue-score":
        from django.db import transaction

        from valuecrm.common.errors import Conflict
        from valuecrm.insights.services import ensure_not_running, score_run_create
        from valuecrm.insights.tasks import score_run_task

        try:
            ensure_not_running()
        except Conflict as exc:
            return {"conflict": str(exc.detail)}
        with transaction.atomic():
            run = score_run_create(requested_by=_admin())
            run_id = run.pk
            transaction.on_commit(lambda: score_run_task(run_id))
        return {"run": run_id}
    if command == "undo":
        from valuecrm.imports import services
        from valuecrm.imports.models import ImportRun

        run = services.import_undo_start(actor=_admin(), run=ImportRun.objects.get(pk=int(arg)))
        return {"run": run.pk, "status": run.status}
    if command == "read-load":
        return _read_load(Path(arg), Path(argv[2]))
    if command == "state":
        from valuecrm.customers.models import Customer
        from valuecrm.imports.models import ImportRun
        from valuecrm.insights.models import CustomerValue, ScoreRun
        from valuecrm.orders.models import Order

        return {
            "imports": {r.pk: [r.status, r.detail_code] for r in ImportRun.objects.all()},
            "scores": {r.pk: [r.status, r.error] for r in ScoreRun.objects.all()},
            "customers": Customer.objects.count(), "orders": Order.objects.count(),
            "values": CustomerValue.objects.count(),
        }
    raise SystemExit(f"unknown command {command}")


def _read_load(stop, out) -> dict:
    """Reads through the whole Django stack (middleware, views, ORM) against the same
    database file the worker writes, as the web server would."""
    import time

    from django.test import Client

    from valuecrm.accounts.models import User
    from valuecrm.accounts.services import api_token_create, user_create

    reader = User.objects.filter(username="reader").first() or user_create(
        username="reader", password=ADMIN_PASSWORD, role="analyst")
    _, token = api_token_create(user=reader, name="bench")
    web, api = Client(), Client(headers={"Authorization": f"Bearer {token}"})
    web.force_login(reader)
    urls = [(api, "/api/v1/customers?limit=50"), (web, "/customers/"),
            (api, "/api/v1/customers?limit=50&sort=name"), (web, "/value/")]
    samples = []
    i = 0
    while not stop.exists():
        client, url = urls[i % len(urls)]
        started = time.perf_counter()
        try:
            status = client.get(url).status_code
        except Exception as exc:  # a 500 raised by the test client
            status = f"error: {type(exc).__name__}"
        samples.append([url, status, (time.perf_counter() - started) * 1000])
        i += 1
    out.write_text(json.dumps(samples))
    return {"requests": len(samples)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), default=str))
