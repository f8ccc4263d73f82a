"""Several worker processes on either broker: queued jobs run, once; a killed worker loses nothing.

Each test runs twice, with Huey on SQLite (the embedded default) and on Redis (the
production profile), against real `valuecrm worker` processes.
"""

import signal

SCORE_AS = "from valuecrm.insights.models import ScoreRun\n"

QUEUE_RUN_TWICE = SCORE_AS + """
from valuecrm.insights.services import score_run_create
from valuecrm.insights.tasks import score_run_task
run = score_run_create(as_of="{as_of}")
score_run_task(run.pk)
score_run_task(run.pk)  # delivered twice: a retry, or two workers picking it up
print(run.pk)
"""


MID_STEPS = ("summary", "purchase_model", "spend_model", "churn", "segments", "stages", "alerts")


def _status(pk: int) -> str:
    return SCORE_AS + f"value = ScoreRun.objects.get(pk={pk}).status"


def test_two_workers_run_a_job_delivered_twice_exactly_once(site):
    site.start_worker()
    site.start_worker()
    pk = int(site.python(QUEUE_RUN_TWICE.format(as_of="")))
    site.wait_for(_status(pk), "succeeded")
    # One run, one snapshot: the second delivery found it done (or waited for the lock, then found it done).
    counts = site.python(SCORE_AS + f"""
from valuecrm.insights.models import CustomerScore, CustomerValue
r = ScoreRun.objects.get(pk={pk})
print(ScoreRun.objects.count(), CustomerScore.objects.filter(run=r).count(), CustomerValue.objects.count(),
      r.n_customers)""")
    runs, scores, values, customers = map(int, counts.split())
    assert runs == 1 and scores == values == customers == 600


def test_an_import_queued_twice_runs_once(site):
    (site.data_dir / "people.csv").write_text("name,email\nAda Lovelace,ada@example.cn\nLin Wei,lin@example.cn\n")
    site.start_worker()
    site.start_worker()
    pk = site.python(f"""
from valuecrm.accounts.services import admin_ensure
from valuecrm.imports import services
from valuecrm.imports.tasks import import_run_task
admin, _ = admin_ensure(username="boss", password="a-long-pass-phrase-9")
with open("{site.data_dir / 'people.csv'}", "rb") as f:
    run = services.import_upload(actor=admin, kind="customers", name="people.csv", chunks=[f.read()])
run = services.import_configure(actor=admin, run=run, mapping={{"name": "name", "email": "email"}})
services.import_start(actor=admin, run=run)
import_run_task(run.pk)
print(run.pk)""")
    site.wait_for(f"from valuecrm.imports.models import ImportRun\nvalue = ImportRun.objects.get(pk={pk}).status",
                  "succeeded")
    created = site.python("from valuecrm.customers.selectors import customers_with_email\n"
                          "print(sum(customers_with_email(e).count() for e in ['ada@example.cn', 'lin@example.cn']))")
    assert created == "2"


def test_kill_9_during_a_run_keeps_the_scores_and_a_rerun_succeeds(site):
    first = int(site.python(SCORE_AS + "import datetime as dt\nfrom django.utils import timezone\n"
                                       "from valuecrm.insights.services import score_now\n"
                                       "print(score_now(as_of=timezone.localdate() - dt.timedelta(days=30)).pk)"))
    before = site.python("from valuecrm.insights.models import CustomerValue\n"
                         "print(sorted(CustomerValue.objects.values_list('customer_id', 'clv'))[:50])")
    worker = site.start_worker()
    # Queue a run and kill the worker in the middle of its computation (after loading,
    # before the write), watching from one process so no step is missed.
    pk = int(site.python(SCORE_AS + f"""
import os, signal, time
from valuecrm.insights.services import score_run_create
from valuecrm.insights.tasks import score_run_task
run = score_run_create()
score_run_task(run.pk)
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    r = ScoreRun.objects.get(pk=run.pk)
    if r.status == "running" and r.current_step in MID:
        os.kill({worker.pid}, signal.SIGKILL)
        break
    assert r.status in ("queued", "running"), r.status
    time.sleep(0.02)
print(run.pk)""".replace("MID", repr(MID_STEPS)), timeout=300))
    worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    assert site.python(SCORE_AS + f"print(ScoreRun.objects.get(pk={pk}).status)") == "running"
    after = site.python("from valuecrm.insights.models import CustomerValue\n"
                        "print(sorted(CustomerValue.objects.values_list('customer_id', 'clv'))[:50])")
    assert after == before  # the killed run wrote nothing
    assert site.python(SCORE_AS + "print(ScoreRun.objects.filter(status='succeeded').values_list('pk', flat=True)[0])") \
        == str(first)

    # A new worker marks the dead run failed on start-up, then the rerun succeeds.
    site.start_worker()
    site.wait_for(_status(pk), "failed")
    assert "worker stopped during this run" in site.python(SCORE_AS + f"print(ScoreRun.objects.get(pk={pk}).error)")
    site.python(f"from valuecrm.insights.tasks import score_run_task\nscore_run_task({pk})")
    site.wait_for(_status(pk), "succeeded")


def test_the_profile_is_chosen_by_environment_and_sessions_outlive_a_process(site):
    broker = "redis" in site.env.get("VALUECRM_REDIS_URL", "")
    facts = site.python("""
from django.conf import settings
from django.core.cache import caches
from huey.contrib.djhuey import HUEY
print(type(HUEY).__name__, type(caches["sessions"]).__name__)""")
    assert facts == ("RedisHuey RedisCache" if broker else "SqliteHuey FileBasedCache")
    # A session written by one app process is read by another (nothing kept in one process).
    key = site.python("""
from django.contrib.sessions.backends.cache import SessionStore
s = SessionStore()
s["who"] = "ada"
s.save()
print(s.session_key)""")
    assert site.python(f"""
from django.contrib.sessions.backends.cache import SessionStore
print(SessionStore(session_key={key!r}).get("who"))""") == "ada"
