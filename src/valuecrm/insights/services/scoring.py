"""A scoring run: orders → summary (in the database) → models → scores, stages, tiers,
alerts and next-best actions → one transaction that writes the snapshot and the
current view.

Everything is computed in memory first and written at the end in one
transaction, so a failing run leaves the previous scores untouched and a rerun
(same run, or a new run for the same as_of) simply replaces that as_of's snapshot.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from valuecrm.common import events, heartbeat
from valuecrm.common.datetimes import parse_bounded_date
from valuecrm.common.errors import Conflict, NotFound, ValidationFailed
from valuecrm.common.locks import LockHeld, job_lock
from valuecrm.common.money import quantize
from valuecrm.customers.models import Customer
from valuecrm.engine import backends
from valuecrm.engine.cohort_quantiles import first_repeat_quantiles
from valuecrm.engine.rfm import rfm_scores
from valuecrm.engine.summary import unit_days
from valuecrm.insights.models import (
    CustomerScore,
    CustomerValue,
    LifecycleRules,
    ModelChoice,
    RunStatus,
    ScoreRun,
    ScoringUnit,
    Stage,
    StageChange,
    Tier,
    TierPolicy,
    ValueReason,
    WarningPolicy,
)
from valuecrm.insights.reasons import customer_ids as reason_customer_ids

from . import churn, consistency, data, fitting, playbook, stages, tiers, warnings
from .writeback import insert_rows

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, str], None]

# (step, progress % when it starts)
STEPS = {
    "load": 2, "summary": 8, "purchase_model": 20, "spend_model": 40, "churn": 50,
    "segments": 70, "stages": 75, "alerts": 82, "write": 88, "done": 100,
}

SCORE_COLUMNS = [
    "as_of", "clv", "historical_revenue", "historical_margin", "n_orders", "first_order_on",
    "last_order_on", "interval_days", "p_alive", "expected_purchases_90d", "churn_risk",
    "value_at_risk", "clv_low", "clv_high", "clv_range_basis", "r_score", "f_score", "m_score", "segment", "tier", "stage", "stage_since",
    "is_value_customer", "value_reasons", "next_best_action", "nba_reason",
]


# ----------------------------------------------------------------------------- API
def score_run_create(
    *, as_of: dt.date | str | None = None, unit: str = ScoringUnit.DAY,
    model_choice: str = ModelChoice.AUTO, requested_by=None,
) -> ScoreRun:
    """Validate and queue a run (the worker or the CLI executes it)."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    if as_of is None or as_of == "":
        as_of = today
    else:
        try:
            as_of = parse_bounded_date(as_of)
        except ValueError as exc:
            errors["as_of"] = [str(exc)]
            as_of = None
    if as_of is not None and as_of > today:
        errors["as_of"] = [_("The scoring date cannot be in the future.")]
    elif as_of is not None and (first := _first_order_day()) is not None and as_of < first:
        # Before the first order nobody has bought yet: the run would "succeed" with
        # nothing scored and become the dashboard's latest run.
        errors["as_of"] = [_("Choose a date between the first order (%(first)s) and today.")
                           % {"first": first.isoformat()}]
    if unit not in ScoringUnit.values:
        errors["unit"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(ScoringUnit.values)}]
    if model_choice not in ModelChoice.values:
        errors["model_choice"] = [
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(ModelChoice.values)}]
    if errors:
        raise ValidationFailed(_("The scoring run was not queued."), errors=errors)
    return ScoreRun.objects.create(as_of=as_of, unit=unit, model_choice=model_choice,
                                   requested_by=requested_by)


def _first_order_day():
    from valuecrm.insights.selectors import first_order_day  # selectors import this package

    return first_order_day()


SCORING_LOCK = "scoring"


def score_run_execute(run: ScoreRun | int, progress: ProgressCallback | None = None, *,
                      engine: str | None = None, orders=None, spark_master: str | None = None) -> ScoreRun:
    """Execute (or resume) a run. Never raises for data problems: the run records them.

    A succeeded or superseded run is left as it is; a queued, failed or
    interrupted one is computed from the start (its snapshot is only written at
    the end, so there is nothing half-done to undo).

    ``engine`` is where the BTYD summary is computed: ``"database"`` (the CRM's
    own, via Ibis), ``"duckdb"`` or ``"spark"`` (at ``spark_master``, default
    ``settings.VALUECRM_SPARK_MASTER``); default ``settings.VALUECRM_SCORING_ENGINE``.
    ``orders`` is a Parquet file or directory (on Spark also a URL such as
    ``s3a://…``) to read the order history from instead of the CRM's orders
    (warehouse engines only).

    Raises :class:`Conflict` when another process is scoring (the job lock is held
    across workers); the run is then left as it was, to be executed later.
    """
    if isinstance(run, int):
        found = ScoreRun.objects.filter(pk=run).first()
        if found is None:
            raise NotFound(_("No such scoring run."))
        run = found
    if run.status in (RunStatus.SUCCEEDED, RunStatus.SUPERSEDED):
        return run
    engine = scoring_engine_check(engine, orders)
    try:
        with job_lock(SCORING_LOCK):
            _fail_orphaned(exclude=run.pk)
            run.refresh_from_db()
            if run.status in (RunStatus.SUCCEEDED, RunStatus.SUPERSEDED):
                return run  # another worker finished it while we waited for the lock
            return _execute_locked(run, progress, engine, orders, spark_master)
    except LockHeld:
        raise Conflict(_("A scoring run is already running.")) from None


ENGINES = ("database", *backends.ENGINES)


def _fail_orphaned(exclude: int | None = None) -> int:
    """Runs left 'running' by a process that died (kill -9, OOM, a lost machine).

    Called with the scoring lock held: nobody else is scoring, so any other
    'running' run has lost its process. Its snapshot was never written, so the
    previous scores are intact; it is marked failed, to be run again.
    """
    orphans = ScoreRun.objects.filter(status=RunStatus.RUNNING).exclude(pk=exclude)
    # The same stored reason as score_runs_recover (English, shown translated).
    return orphans.update(status=RunStatus.FAILED, finished_at=timezone.now(), error=WORKER_STOPPED)


def score_runs_fail_orphaned() -> int:
    """Mark runs whose process died as failed (a worker does this when it starts). Returns how many."""
    try:
        with job_lock(SCORING_LOCK):
            return _fail_orphaned()
    except LockHeld:  # someone is scoring: their run is alive
        return 0


def scoring_engine_check(engine: str | None, orders=None) -> str:
    """The engine to use (``settings.VALUECRM_SCORING_ENGINE`` when None); ValidationFailed if unusable."""
    engine = engine or settings.VALUECRM_SCORING_ENGINE
    if engine not in ENGINES:
        raise ValidationFailed(_("The scoring run was not started."), errors={
            "engine": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(ENGINES)}]})
    if engine == "spark" and importlib.util.find_spec("pyspark") is None:
        raise ValidationFailed(_("The scoring run was not started."), errors={
            "engine": [_("Spark is not installed here: pip install 'valuecrm[spark]' and run "
                         "scripts/install-spark.sh for Java.")]})
    if orders and engine == "database":
        raise ValidationFailed(_("The scoring run was not started."), errors={
            "orders": [_("Order files are read by a warehouse engine: add --engine duckdb or --engine spark.")]})
    if orders and engine == "spark" and backends.is_url(orders):
        return engine  # a warehouse location Spark reads itself (s3a://, hdfs:// …)
    if orders and not Path(orders).exists():
        raise ValidationFailed(_("The scoring run was not started."), errors={
            "orders": [_("%(path)s does not exist.") % {"path": str(orders)}]})
    return engine


def _execute_locked(run: ScoreRun, progress, engine: str, orders, spark_master=None) -> ScoreRun:
    started = time.perf_counter()
    run.engine = engine
    run.status = RunStatus.RUNNING
    run.started_at = timezone.now()
    run.finished_at = None
    run.error = ""
    run.progress = 0
    run.worker, run.heartbeat_at = heartbeat.worker_name(), run.started_at
    run.save(update_fields=["status", "started_at", "finished_at", "error", "progress",
                            "worker", "heartbeat_at", "engine"])
    tracker = _Tracker(run, progress)
    try:
        with heartbeat.beating(HEARTBEAT_KIND, run.pk):
            result = _compute(run, tracker, engine, orders, spark_master)
            tracker.step("write")
            _write_tolerating_gone(run, result)
    except Exception as exc:  # the run must record any failure, then stay failed
        log.exception("scoring run %s failed", run.pk)
        run.refresh_from_db()
        run.status = RunStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        run.finished_at = timezone.now()
        run.duration_seconds = time.perf_counter() - started
        run.save(update_fields=["status", "error", "finished_at", "duration_seconds"])
        return run
    tracker.step("done")
    run.refresh_from_db()
    run.duration_seconds = time.perf_counter() - started
    run.timings = tracker.timings
    run.save(update_fields=["duration_seconds", "timings"])
    return run


def score_now(*, as_of=None, unit=ScoringUnit.DAY, model_choice=ModelChoice.AUTO,
              requested_by=None, progress: ProgressCallback | None = None,
              engine: str | None = None, orders=None, spark_master: str | None = None) -> ScoreRun:
    run = score_run_create(as_of=as_of, unit=unit, model_choice=model_choice, requested_by=requested_by)
    return score_run_execute(run, progress, engine=engine, orders=orders, spark_master=spark_master)


HEARTBEAT_KIND = "score"
# Stored in English, shown in the reader's language (ScoreRun.error_text).
WORKER_STOPPED = gettext_noop("The background worker stopped during this run (it was killed or "
                              "restarted); nothing was written. Start a new run.")
# Queued runs no worker took for this long lost their task (the queue was reset).
QUEUED_LOST_AFTER = dt.timedelta(hours=2)


def score_runs_recover(*, now: dt.datetime | None = None) -> list[int]:
    """Fail the runs whose worker died (common.heartbeat: its process is gone from this
    host, or it has not beaten for a minute), with the reason, so they never block the
    next run. Nothing of theirs needs undoing: a run writes its scores in one transaction
    at the end, which the database rolled back. Every minute, at worker start, and before
    a new run is refused as "already running". Returns the ids it failed."""
    now = now or timezone.now()
    failed = []
    for run in ScoreRun.objects.filter(status=RunStatus.RUNNING):
        if not heartbeat.is_dead(HEARTBEAT_KIND, run.pk, worker=run.worker,
                                 heartbeat_at=run.heartbeat_at, now=now):
            continue
        changed = ScoreRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING,
                                          worker=run.worker).update(
            status=RunStatus.FAILED, finished_at=now,
            error=WORKER_STOPPED)
        if changed:
            heartbeat.clear(HEARTBEAT_KIND, run.pk)
            failed.append(run.pk)
    return failed


def score_runs_resume_stale(*, older_than: dt.timedelta = QUEUED_LOST_AFTER) -> list[int]:
    """Fail the runs a dead worker left 'running' and execute, here, the queued runs no
    worker took for `older_than` (their task was lost). Returns the ids executed."""
    score_runs_recover()
    cutoff = timezone.now() - older_than
    # Running runs are not resumed: score_runs_recover above failed the dead ones, and a
    # live one belongs to its worker.
    ids = sorted(ScoreRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=cutoff)
                 .values_list("pk", flat=True))
    done = []
    for pk in ids:
        try:
            score_run_execute(pk)
        except Conflict:  # another worker is scoring right now (the job lock is held)
            break
        done.append(pk)
    return done


def ensure_not_running() -> None:
    """409 while a live run works; a run whose worker died is failed first, not obeyed."""
    score_runs_recover()
    if ScoreRun.objects.filter(status=RunStatus.RUNNING).exists():
        raise Conflict(_("A scoring run is already running."))


@dataclass(frozen=True)
class WarehouseRun:
    """What :func:`score_to_parquet` computed (nothing is written to the CRM)."""

    as_of: dt.date
    unit: str
    model_choice: str
    output: str
    n_customers: int
    n_orders: int
    transaction_model: str
    model_params: dict
    customer_equity: float
    timings: dict
    pk: None = None


PARQUET_BATCH = 100_000


def score_to_parquet(*, orders, output, engine: str = "duckdb", as_of=None, unit: str = ScoringUnit.DAY,
                     model_choice: str = ModelChoice.AUTO, progress: ProgressCallback | None = None,
                     spark_master: str | None = None) -> WarehouseRun:
    """Score the buyers in a warehouse's order files and write the scores to Parquet.

    The same computation as a CRM run (summary on the engine, models fitted on the
    collapsed unique rows, stages, tiers, value reasons, next-best actions, with the
    CRM's current policies), for customers the CRM may not hold: nothing is written
    to the CRM database, so no event is emitted. The output has one row per buyer:
    ``customer_id`` and the score columns.
    """

    errors: dict[str, list[str]] = {}
    if engine not in backends.ENGINES:
        errors["engine"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(backends.ENGINES)}]
    elif engine == "spark" and importlib.util.find_spec("pyspark") is None:
        errors["engine"] = [_("Spark is not installed here: pip install 'valuecrm[spark]' and run "
                              "scripts/install-spark.sh for Java.")]
    try:
        as_of = parse_bounded_date(as_of) if as_of else timezone.localdate()
    except ValueError as exc:
        errors["as_of"] = [str(exc)]
    if unit not in ScoringUnit.values:
        errors["unit"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(ScoringUnit.values)}]
    if model_choice not in ModelChoice.values:
        errors["model_choice"] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(ModelChoice.values)}]
    try:
        target = _output_target(output)
    except ValueError as exc:
        errors["output"] = [str(exc)]
    if errors:
        raise ValidationFailed(_("The scoring run was not started."), errors=errors)
    run = WarehouseRun(as_of, unit, model_choice, str(output), 0, 0, "", {}, 0.0, {})
    tracker = _Tracker(run, progress)
    rules, tier_policy, warn_policy = LifecycleRules.current(), TierPolicy.current(), WarningPolicy.current()
    tracker.step("load")
    try:
        source = data.engine_orders(as_of, engine, orders, master=spark_master)
    except backends.OrdersFileError as exc:
        raise ValidationFailed(_("The scoring run was not started."), errors={"orders": [str(exc)]}) from exc
    try:
        tracker.step("summary")
        ids = source.table.select("customer_id").distinct().to_pyarrow()["customer_id"].to_numpy()
        customers = pd.DataFrame({"name": "", "owner_id": np.nan, "language": ""},
                                 index=pd.Index(np.sort(ids), name="id"))
        prev = _previous_snapshot_empty()
        result = _compute_from(run, tracker, source, customers, set(), prev, rules, tier_policy, warn_policy)
    finally:
        data.release(source)
    tracker.step("write")
    written = target.write(result)
    tracker.step("done")
    fields = result.run_fields
    return WarehouseRun(as_of, unit, model_choice, str(output), written, int(fields.get("n_orders", 0)),
                        fields.get("transaction_model", ""), fields.get("model_params", {}),
                        float(fields.get("customer_equity", 0)), tracker.timings)


@dataclass(frozen=True)
class OutputTarget:
    """Where ``--output`` writes: one Parquet file, or a directory of Parquet part files
    (a path ending in ``/`` or an existing directory), on any filesystem pyarrow opens
    from a URL (``file://``, ``s3://``, ``gs://``, ``hdfs://``, ``abfs://`` …) or a local path."""

    filesystem: object
    path: str
    directory: bool

    def write(self, result: _Result) -> int:
        """Stream the score rows in batches of PARQUET_BATCH; returns how many."""
        import pyarrow.parquet as pq

        schema, n, part = _parquet_schema(), 0, 0
        if self.directory:
            self.filesystem.create_dir(self.path, recursive=True)
            for old in self.filesystem.get_file_info(_selector(self.path)):
                if old.base_name.startswith("part-") and old.base_name.endswith(".parquet"):
                    self.filesystem.delete_file(old.path)
            for table in _parquet_tables(result, schema):
                pq.write_table(table, f"{self.path}/part-{part:05d}.parquet", filesystem=self.filesystem)
                n, part = n + table.num_rows, part + 1
            return n
        with self.filesystem.open_output_stream(self.path) as stream, pq.ParquetWriter(stream, schema) as writer:
            for table in _parquet_tables(result, schema):
                writer.write_table(table)
                n += table.num_rows
        return n


def _selector(path: str):
    from pyarrow import fs

    return fs.FileSelector(path, allow_not_found=True)


def _output_target(output) -> OutputTarget:
    """Parse and check ``--output`` (raises ValueError naming what is wrong)."""
    from pyarrow import fs

    text = str(output)
    if "://" in text:
        try:
            filesystem, path = fs.FileSystem.from_uri(text)
        except (ValueError, OSError) as exc:
            raise ValueError(_("Cannot open %(url)s: %(error)s") % {"url": text, "error": exc}) from exc
    else:
        filesystem, path = fs.LocalFileSystem(), str(Path(text).absolute())
    directory = text.endswith("/") or filesystem.get_file_info(path).type == fs.FileType.Directory
    path = path.rstrip("/") or "/"
    parent = path if directory else path.rsplit("/", 1)[0] or "/"
    if directory:
        parent = parent.rsplit("/", 1)[0] or "/"
    if isinstance(filesystem, fs.LocalFileSystem) and filesystem.get_file_info(parent).type != fs.FileType.Directory:
        raise ValueError(_("The folder %(folder)s does not exist.") % {"folder": parent})
    return OutputTarget(filesystem, path, directory)


def _parquet_tables(result: _Result, schema):
    """One Arrow table per batch of score rows."""
    import pyarrow as pa

    for batch in _score_batches(result, PARQUET_BATCH):
        columns = list(zip(*batch, strict=True)) if batch else [() for _ in schema]
        yield pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
                                   schema=schema)


def _previous_snapshot_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["customer_id", "stage", "stage_since", "p_alive"]).set_index("customer_id")


def _parquet_schema():
    import pyarrow as pa

    money, text, day, number = pa.float64(), pa.string(), pa.date32(), pa.float64()
    types = {
        "customer_id": pa.int64(), "as_of": day, "clv": money, "historical_revenue": money,
        "historical_margin": money, "n_orders": pa.int64(), "first_order_on": day, "last_order_on": day,
        "interval_days": number, "p_alive": number, "expected_purchases_90d": number, "churn_risk": number,
        "value_at_risk": money, "clv_low": money, "clv_high": money, "clv_range_basis": text,
        "r_score": pa.int64(), "f_score": pa.int64(), "m_score": pa.int64(), "segment": text, "tier": text,
        "stage": text, "stage_since": day, "is_value_customer": pa.bool_(), "value_reasons": text,
        "next_best_action": text, "nba_reason": text,
    }
    return pa.schema([(name, types[name]) for name in ["customer_id", *SCORE_COLUMNS]])


# ----------------------------------------------------------------------------- progress
class _Tracker:
    def __init__(self, run: ScoreRun, callback: ProgressCallback | None):
        self.run = run
        self.callback = callback
        # Wall and CPU seconds per step: on a busy server the gap is time spent waiting.
        self.timings: dict[str, dict[str, float]] = {"wall": {}, "cpu": {}}
        self._step = None
        self._t0 = time.perf_counter()
        self._c0 = time.process_time()

    def step(self, name: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self._step is not None:
            self.timings["wall"][self._step] = round(now - self._t0, 3)
            self.timings["cpu"][self._step] = round(cpu - self._c0, 3)
        self._step, self._t0, self._c0 = name, now, cpu
        percent = STEPS[name]
        if name != "done":
            ScoreRun.objects.filter(pk=self.run.pk).update(progress=percent, current_step=name,
                                                           heartbeat_at=timezone.now())
        if self.callback is not None:
            self.callback(percent, name)


# ----------------------------------------------------------------------------- compute
@dataclass
class _Result:
    """A run's scores, columnar: one frame row per customer (sorted by id) holding the
    computed values; the score rows (SCORE_COLUMNS tuples) are formatted from it one
    batch at a time (:func:`_score_batches`), so no per-customer Python row exists for
    all customers at once while writing back."""

    scores: pd.DataFrame = field(default_factory=pd.DataFrame)
    changes: pd.DataFrame = field(default_factory=lambda: _changes_frame([], [], []))
    warnings: list = field(default_factory=list)
    customers: pd.DataFrame = field(default_factory=pd.DataFrame)  # name, owner_id, language
    run_fields: dict = field(default_factory=dict)
    play: dict = field(default_factory=dict)
    as_of: dt.date | None = None
    min_reasons: int = 0


def _changes_frame(ids, before, after) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": np.asarray(ids, dtype=np.int64),
                         "from_stage": np.asarray(before, dtype=object),
                         "to_stage": np.asarray(after, dtype=object)})


def _previous_snapshot(as_of: dt.date) -> pd.DataFrame:
    prev = ScoreRun.objects.succeeded().filter(as_of__lt=as_of).order_by("-as_of", "-id").first()
    columns = ["customer_id", "stage", "stage_since", "p_alive"]
    if prev is None:
        return pd.DataFrame(columns=columns).set_index("customer_id")
    values = list(CustomerScore.objects.filter(run=prev).values_list(*columns).iterator(chunk_size=20000))
    return pd.DataFrame(values, columns=columns).set_index("customer_id")


def _customers(referral_tag: str) -> tuple[pd.DataFrame, set[int]]:
    rows = Customer.objects.values_list("id", "name", "owner_id", "owner__language")
    frame = pd.DataFrame(list(rows.iterator(chunk_size=20000)),
                         columns=["id", "name", "owner_id", "language"]).set_index("id").sort_index()
    referrers: set[int] = set()
    if referral_tag:
        referrers = set(Customer.objects.filter(tags__name__iexact=referral_tag).values_list("id", flat=True))
    # …and those another app knows refer others (loyalty's referral programme).
    referrers |= reason_customer_ids(ValueReason.REFERRALS.value)
    return frame, referrers


def _compute(run: ScoreRun, tracker: _Tracker, engine: str = "database", orders=None,
             spark_master: str | None = None) -> _Result:
    rules, tier_policy, warn_policy = LifecycleRules.current(), TierPolicy.current(), WarningPolicy.current()
    tracker.step("load")
    customers, referrers = _customers(tier_policy.referral_tag)
    prev = _previous_snapshot(run.as_of)
    tracker.step("summary")
    if engine == "database":
        source = data.revenue_orders(run.as_of)
    else:
        source = data.engine_orders(run.as_of, engine, orders, master=spark_master)
    try:
        return _compute_from(run, tracker, source, customers, referrers, prev, rules, tier_policy,
                             warn_policy)
    finally:
        data.release(source)


def _compute_from(run, tracker, source, customers, referrers, prev, rules, tier_policy,
                  warn_policy) -> _Result:
    as_of, unit = run.as_of, run.unit
    scale = unit_days(unit)
    result = _Result(customers=customers)
    result.run_fields = {"n_customers": len(customers), "n_orders": 0}
    table = playbook.playbook_lookup()

    buyers = pd.DataFrame()
    days = data.customer_days(source)
    days = days[days["customer_id"].isin(customers.index)]
    if len(days):
        summary = fitting.full_summary(source, unit)
        summary = summary[summary.index.isin(customers.index)]
        money = data.customer_money(days, as_of, rules.trend_window_days)
        # The summary counts purchase days; orders come from the per-day counts.
        summary["n_orders"] = money["orders"].reindex(summary.index).fillna(0).astype(int)
        result.run_fields["n_orders"] = int(summary["n_orders"].sum())
        data_start = pd.Timestamp(summary["first_purchase"].min()).date()

        tracker.step("purchase_model")
        fit = fitting.fit_purchase_model(source, summary, unit, run.model_choice, data_start)
        # On Spark the per-customer predictions run in the cluster's partitions, below.
        on_engine = source.engine == "spark"
        if not on_engine:
            p_alive, e90 = fitting.predict(fit, summary, unit)
        track = fitting.tracking(fit, days, as_of, unit)

        tracker.step("spend_model")
        spend = fitting.fit_spend(summary, money)
        margin, basis = fitting.margin_ratio(money, summary.index)
        if on_engine:
            p_alive, e90, revenue_clv = fitting.predict_on_engine(fit, spend, source, summary, unit)
            clv = np.maximum(revenue_clv * margin, 0.0)
        else:
            clv = np.maximum(fitting.clv_12_months(fit, summary, unit, spend.expected_spend, margin), 0.0)

        tracker.step("churn")
        risk, churn_report = churn.churn_risk(days, as_of, summary.index, p_alive)

        tracker.step("segments")
        rfm = rfm_scores(summary)
        revenue = money["revenue"].reindex(summary.index).fillna(0.0).to_numpy(float)
        frequency = summary["frequency"].to_numpy(float)
        interval = np.where(frequency > 0, summary["recency"].to_numpy(float) * scale / np.maximum(frequency, 1),
                            np.nan)
        buyers = pd.DataFrame({
            "frequency": frequency,
            "n_orders": summary["n_orders"].to_numpy(float),
            "first_purchase": summary["first_purchase"].to_numpy(),
            "last_purchase": summary["last_purchase"].to_numpy(),
            "interval_days": interval,
            "p_alive": p_alive,
            "e90": e90,
            "risk": np.clip(risk, 0.0, 1.0),
            "clv": clv,
            "revenue": revenue,
            "margin_value": revenue * margin,
            "spend_last": money["spend_last"].reindex(summary.index).fillna(0.0).to_numpy(float),
            "spend_prev": money["spend_prev"].reindex(summary.index).fillna(0.0).to_numpy(float),
            "spend_before": money["spend_before"].reindex(summary.index).fillna(0.0).to_numpy(float),
            "r": rfm["r_score"].to_numpy(int),
            "f": rfm["f_score"].to_numpy(int),
            "m": rfm["m_score"].to_numpy(int),
            "segment": rfm["segment"].fillna("").to_numpy(object),
        }, index=summary.index)
        buyers["prev_stage"] = prev["stage"].reindex(buyers.index).fillna("")
        buyers["prev_since"] = prev["stage_since"].reindex(buyers.index)
        buyers["prev_p_alive"] = prev["p_alive"].reindex(buyers.index).astype(float)

        tracker.step("stages")
        staged = stages.assign_stages(buyers, as_of, rules)
        buyers = buyers.join(staged)
        tenure = ((pd.Timestamp(as_of) - pd.to_datetime(buyers["first_purchase"])) / pd.Timedelta(days=1))
        new = tiers.too_little_history(frequency, tenure.to_numpy(float), stages.store_interval(interval))
        buyers["tier"] = tiers.assign_tiers_with_new(clv, buyers.index.to_numpy(), tier_policy, new)
        _clv_ranges(buyers, days, new, tenure.to_numpy(float), margin, as_of)
        reasons = tiers.value_reasons(
            f_score=buyers["f"].to_numpy(), revenue=revenue,
            margin=buyers["margin_value"].to_numpy(float) if basis == "margin" else None,
            n_orders=buyers["n_orders"].to_numpy(float), tenure_days=tenure.to_numpy(float),
            referrer=buyers.index.isin(list(referrers)),
            loyal_min_orders=rules.loyal_min_orders, loyal_min_tenure_days=rules.loyal_min_tenure_days,
        )
        buyers["reasons"] = reasons
        result.run_fields["consistency"] = consistency.signal_consistency(
            buyers, stages.stage_signals(buyers, as_of, rules), rules, new,
            np.array([len(r) >= tier_policy.value_min_reasons for r in reasons], dtype=bool))

        tracker.step("alerts")
        result.warnings = warnings.detect(buyers, as_of, warn_policy, rules.trend_window_days)
        result.run_fields.update({
            "transaction_model": fit.name,
            "model_params": fit.model.params_,
            "model_standard_errors": fit.model.standard_errors_,
            "model_log_likelihood": fit.model.log_likelihood_,
            "spend_params": spend.params,
            "holdout_comparison": fit.holdout_table,
            "tracking": track,
            "churn_metrics": churn_report,
            "data_start": data_start,
            "data_end": pd.Timestamp(summary["last_purchase"].max()).date(),
            "calibration_end": fit.calibration_end,
            "clv_basis": basis,
            "n_buyers": len(buyers),
        })

    _rows(result, customers, buyers, prev, table, rules, tier_policy, as_of)
    return result


def _clv_ranges(buyers: pd.DataFrame, days: pd.DataFrame, new: np.ndarray, tenure: np.ndarray,
                margin: np.ndarray, as_of: dt.date) -> None:
    """Tier N's CLV as the 10-90 % range of what customers at the same point went on to
    spend in 12 months (times the customer's margin share, as the model CLV)."""
    buyers["clv_low"], buyers["clv_high"] = np.nan, np.nan
    buyers["clv_range_basis"] = [{} for _ in range(len(buyers))]
    if not new.any():
        return
    targets = pd.DataFrame({"n_orders": buyers["frequency"].to_numpy(float)[new] + 1,
                            "age_days": tenure[new]}, index=buyers.index[new])
    ranges = first_repeat_quantiles(days, targets, as_of, horizon_days=CLV_RANGE_DAYS)
    rows = np.flatnonzero(new)
    buyers.iloc[rows, buyers.columns.get_loc("clv_low")] = ranges["low"].to_numpy(float) * margin[new]
    buyers.iloc[rows, buyers.columns.get_loc("clv_high")] = ranges["high"].to_numpy(float) * margin[new]
    basis = list(buyers["clv_range_basis"])
    for row, r in zip(rows, ranges.itertuples(), strict=True):
        if r.cohort_size:
            basis[row] = {"cohort_size": int(r.cohort_size), "age_from": int(r.age_from),
                          "n_orders": int(r.n_orders), "horizon_days": CLV_RANGE_DAYS}
    buyers["clv_range_basis"] = basis


CLV_RANGE_DAYS = 365


def _money(value: float) -> float:
    return float(quantize(value))


# The computed values kept per customer until the write (everything else of `buyers` is dropped).
_KEPT = ["clv", "revenue", "margin_value", "n_orders", "first_purchase", "last_purchase", "interval_days",
         "p_alive", "e90", "risk", "clv_low", "clv_high", "clv_range_basis", "r", "f", "m", "segment", "tier",
         "stage", "stage_since", "reasons", "reason"]


def _rows(result, customers, buyers, prev, table, rules, tier_policy, as_of) -> None:
    """Keep the per-customer values columnar (buyers, then prospects, by id) and derive the
    stage changes and customer equity from the columns; the SCORE_COLUMNS tuples are built
    batch by batch at write time (:func:`_score_batches`)."""
    ids = np.unique(np.concatenate([customers.index.to_numpy(np.int64),
                                    buyers.index.to_numpy(np.int64) if len(buyers) else np.empty(0, np.int64)]))
    if len(buyers):
        scores = buyers[_KEPT].reindex(ids)
    else:
        scores = pd.DataFrame(index=pd.Index(ids), columns=_KEPT, dtype=object)
    scores.index.name = "customer_id"
    buyer = np.isin(ids, buyers.index.to_numpy(np.int64)) if len(buyers) else np.zeros(len(ids), bool)
    scores["buyer"] = buyer
    prev_stage = prev["stage"].reindex(ids).fillna("").to_numpy(object) if len(prev) else np.full(len(ids), "",
                                                                                                  dtype=object)
    prospect = ~buyer
    if prospect.any():
        stage = scores["stage"].to_numpy(object).copy()
        stage[prospect] = Stage.PROSPECT.value
        scores["stage"] = stage
        tier = scores["tier"].to_numpy(object).copy()
        tier[prospect] = Tier.C.value
        scores["tier"] = tier
        since = scores["stage_since"].to_numpy(object).copy()
        kept = prospect & (prev_stage == Stage.PROSPECT.value)
        since[prospect] = as_of
        if kept.any():
            since[kept] = prev["stage_since"].reindex(ids[kept]).to_numpy(object)
        scores["stage_since"] = since
    result.scores, result.as_of = scores, as_of
    result.play, result.min_reasons = table, tier_policy.value_min_reasons
    stage = scores["stage"].to_numpy(object)
    changed = stage != prev_stage
    result.changes = _changes_frame(ids[changed], prev_stage[changed], stage[changed])
    result.run_fields["customer_equity"] = _equity(scores)


def _equity(scores: pd.DataFrame) -> object:
    """Σ of the rounded CLVs (as the rows hold them), summed batch by batch."""
    total = 0.0
    clv = scores["clv"].to_numpy(float)[scores["buyer"].to_numpy(bool)]
    for start in range(0, len(clv), SCORE_BATCH):
        total += sum(_money(v) for v in clv[start:start + SCORE_BATCH])
    return quantize(total)


SCORE_BATCH = 20_000


def _score_batches(result: _Result, size: int = SCORE_BATCH):
    """The score rows, ``(customer_id, *SCORE_COLUMNS)``, in id order, ``size`` at a time:
    only one batch of Python tuples exists at once."""
    scores, as_of, table, min_reasons = result.scores, result.as_of, result.play, result.min_reasons
    prospect_entry = playbook.action_for(table, Stage.PROSPECT, Tier.C)
    prospect_code = prospect_entry.action_code if prospect_entry else ""
    codes: dict[tuple, str] = {}
    no_order = json.dumps({"code": "no_order"})
    for start in range(0, len(scores), size):
        chunk = scores.iloc[start:start + size]
        batch = []
        for cid, b in zip(chunk.index, chunk.itertuples(index=False), strict=True):
            cid = int(cid)
            if not b.buyer:
                batch.append((
                    cid, as_of, 0.0, 0.0, 0.0, 0, None, None, None, None, 0.0, None, 0.0, None, None, "{}",
                    0, 0, 0, "", Tier.C.value, Stage.PROSPECT.value, b.stage_since, False, "[]",
                    prospect_code, no_order,
                ))
                continue
            key = (b.stage, b.tier)
            if key not in codes:
                entry = playbook.action_for(table, b.stage, b.tier)
                codes[key] = entry.action_code if entry else ""
            clv = _money(b.clv)
            interval = None if not np.isfinite(b.interval_days) else round(float(b.interval_days), 2)
            batch.append((
                cid, as_of, clv, _money(b.revenue), _money(b.margin_value), int(b.n_orders),
                pd.Timestamp(b.first_purchase).date(), pd.Timestamp(b.last_purchase).date(), interval,
                float(b.p_alive), float(b.e90), float(b.risk), _money(clv * b.risk),
                _money(b.clv_low) if np.isfinite(b.clv_low) else None,
                _money(b.clv_high) if np.isfinite(b.clv_high) else None, json.dumps(b.clv_range_basis),
                int(b.r), int(b.f), int(b.m), b.segment or "", b.tier, b.stage, b.stage_since,
                len(b.reasons) >= min_reasons, json.dumps(b.reasons),
                codes[key], json.dumps(b.reason),
            ))
        yield batch


def _score_rows(result: _Result):
    for batch in _score_batches(result):
        yield from batch


class _SortedIds:
    """``cid in ids`` on a sorted id array (no set of every customer id)."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids

    def __contains__(self, cid) -> bool:
        at = int(np.searchsorted(self.ids, cid))
        return at < len(self.ids) and int(self.ids[at]) == int(cid)


# ----------------------------------------------------------------------------- write
def _drop_gone(result: _Result) -> int:
    """Drop the rows of customers deleted (or merged into another, which deletes the
    merged one) since the run read them; returns how many. Their survivors keep the row
    computed for them, and the next run scores them with the merged orders."""
    ids = result.scores.index.to_numpy(np.int64)
    alive: list[int] = []
    for start in range(0, len(ids), 20000):
        alive.extend(Customer.objects.filter(pk__in=ids[start:start + 20000].tolist())
                     .values_list("pk", flat=True))
    keep = np.isin(ids, np.asarray(alive, dtype=np.int64))
    gone = int((~keep).sum())
    if not gone:
        return 0
    gone_ids = set(ids[~keep].tolist())
    result.scores = result.scores[keep]
    result.changes = result.changes[~result.changes["customer_id"].isin(gone_ids)]
    result.warnings = [w for w in result.warnings if w.customer_id not in gone_ids]
    result.run_fields["customer_equity"] = _equity(result.scores)
    return gone


def _write_tolerating_gone(run: ScoreRun, result: _Result, attempts: int = 3) -> None:
    """Write, skipping customers deleted or merged meanwhile. The existence check runs
    inside the write's transaction (on SQLite nobody can delete until it commits); on
    PostgreSQL a delete committed between check and insert fails the foreign key at
    commit, so the check is made again and the write retried."""
    gone = 0
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                gone += _drop_gone(result)
                run.n_skipped_gone = gone
                _write(run, result)
            return
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            log.warning("scoring run %s: a customer went away during the write; retrying", run.pk)


def _write(run: ScoreRun, result: _Result) -> None:
    as_of = run.as_of
    with transaction.atomic():
        same = ScoreRun.objects.filter(as_of=as_of, status=RunStatus.SUCCEEDED).exclude(pk=run.pk)
        # Changes a replaced run already announced are not announced again.
        announced = set(StageChange.objects.filter(run__in=same)
                        .values_list("customer_id", "from_stage", "to_stage").iterator(chunk_size=20000))
        CustomerScore.objects.filter(run__in=same).delete()
        StageChange.objects.filter(run__in=same).delete()
        same.update(status=RunStatus.SUPERSEDED)
        CustomerScore.objects.filter(run=run).delete()
        StageChange.objects.filter(run=run).delete()

        is_current = not ScoreRun.objects.succeeded().filter(as_of__gt=as_of).exists()
        if is_current:
            CustomerValue.objects.all().delete()
        # One pass over the score rows, one batch of tuples at a time (bounded memory):
        # each batch goes to the snapshot and, for the current run, to the current view.
        for batch in _score_batches(result):
            insert_rows(CustomerScore, ["run", "customer", *SCORE_COLUMNS], ((run.pk, *row) for row in batch))
            if is_current:
                insert_rows(CustomerValue, ["customer", "run", *SCORE_COLUMNS],
                            ((row[0], run.pk, *row[1:]) for row in batch))
        insert_rows(StageChange, ["customer", "from_stage", "to_stage", "changed_on", "run"],
                    ((int(c), b, a, as_of, run.pk) for c, b, a in result.changes.itertuples(index=False)))
        n_alerts = 0
        if is_current:
            n_alerts = warnings.apply(run, result.warnings, _SortedIds(result.scores.index.to_numpy(np.int64)),
                                      _owners(result), WarningPolicy.current(), as_of)
        for name, value in result.run_fields.items():
            setattr(run, name, fitting.jsonable(value) if isinstance(value, dict | list) else value)
        run.n_alerts = n_alerts
        run.n_stage_changes = len(result.changes)
        run.status = RunStatus.SUCCEEDED
        run.progress = 100
        run.current_step = "done"
        run.finished_at = timezone.now()
        run.save()
        # Only real transitions (not a first classification from '') are announced one by one.
        moved = result.changes[result.changes["from_stage"] != ""]
        changes = [(int(c), b, a) for c, b, a in moved.itertuples(index=False)
                   if (int(c), b, a) not in announced] if is_current else []
        _emit(run, changes, _changed_rows(result, [c for c, _b, _a in changes]))


def _owners(result: _Result) -> dict[int, tuple]:
    """(name, owner id, owner language) of the customers with a warning only."""
    ids = sorted({w.customer_id for w in result.warnings})
    frame = result.customers.reindex(ids)
    return {int(i): (r.name, None if pd.isna(r.owner_id) else int(r.owner_id),
                     r.language if isinstance(r.language, str) else "")
            for i, r in zip(frame.index, frame.itertuples(), strict=True)}


def _changed_rows(result: _Result, ids: list[int]) -> dict[int, tuple]:
    """{customer id: (tier, churn risk)} of the customers whose stage change is announced."""
    if not ids:
        return {}
    frame = result.scores.loc[ids, ["tier", "risk", "buyer"]]
    return {int(i): (t or "", float(r) if b and np.isfinite(r) else None)
            for i, t, r, b in zip(frame.index, frame["tier"], frame["risk"], frame["buyer"], strict=True)}


def _emit(run: ScoreRun, changes: list[tuple[int, str, str]], rows: dict[int, tuple]) -> None:
    """Announce stage changes (one event per real transition) and the run's end.

    A customer's first stage (from '') is a classification, not a transition, so it
    is only counted on the run — a first run would otherwise send one event per customer.
    Written in the run's transaction: the events exist exactly when the scores do.
    """
    as_of = run.as_of.isoformat() if hasattr(run.as_of, "isoformat") else str(run.as_of)
    emitted: list[events.Event] = [
        events.CustomerStageChanged(
            customer_id=cid, from_stage=before, to_stage=after, changed_on=as_of, run_id=run.pk,
            tier=rows[cid][0] if cid in rows else "", churn_risk=rows[cid][1] if cid in rows else None)
        for cid, before, after in changes if before
    ]
    emitted.append(events.ScoreRunFinished(run_id=run.pk, as_of=as_of, status=run.status,
                                           n_customers=run.n_customers or 0,
                                           n_stage_changes=run.n_stage_changes or 0))
    events.emit_many(emitted, actor=run.requested_by)
