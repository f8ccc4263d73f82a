"""Change history that is complete whichever path changed a record.

django-simple-history writes a copy of the row on every `save()`. Two gaps made
changes vanish from a record's history:

- rows created by the bulk paths (imports, the demo) have no first copy, so the
  first real edit had nothing to be compared with and was not shown;
- the bulk paths change rows with `QuerySet.update()`, which writes no copy.

`install()` closes the first gap for every historical model: before the first
save of a row that has no history yet, a baseline copy of the stored row (dated
when the row was created, by nobody) is written. `record_bulk_changes()` closes
the second: a bulk writer passes the values it overwrote and gets a baseline where
needed plus one "changed" copy per row, in a few queries per thousand rows.

Every copy also says *how* the change came in (history_change_reason): the origin
of the current request or job ("web", "api", "cli", "import", "automation", …),
or a more precise reason the writer set ("import:12", "merge:1921").
"""

from collections.abc import Iterable
from copy import copy

from django.db.models.signals import pre_save
from django.utils import timezone
from simple_history.models import registered_models
from simple_history.signals import pre_create_historical_record

from valuecrm.common.events.context import current_origin

BASELINE = "baseline"
CHUNK = 1000


def install() -> None:
    """Hook every model registered with simple-history (called from CommonConfig.ready)."""
    for model in set(registered_models.values()):
        pre_save.connect(_baseline_before_first_change, sender=model,
                         dispatch_uid=f"history-baseline-{model._meta.label}")
    pre_create_historical_record.connect(_say_how, dispatch_uid="history-change-reason")


def _say_how(sender, instance, history_instance, **kwargs) -> None:
    if not history_instance.history_change_reason:
        history_instance.history_change_reason = current_origin().origin


def _baseline_before_first_change(sender, instance, raw=False, **kwargs) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if sender.history.filter(id=instance.pk).exists():
        return
    stored = sender._default_manager.filter(pk=instance.pk).first()
    if stored is not None:
        _write_baselines(sender, [stored])


def _write_baselines(model, rows: list) -> None:
    now = timezone.now()
    for row in rows:
        row._history_date = getattr(row, "created_at", None) or now
        row._history_user = None
    model.history.bulk_history_create(rows, default_change_reason=BASELINE)


def record_bulk_changes(model, befores: dict[int, dict], *, actor, reason: str) -> None:
    """History for rows just changed with `QuerySet.update()`.

    `befores` maps a row's pk to the values the update overwrote ({attname: old});
    keys starting with "_" (bookkeeping such as added tags) are ignored. Rows that
    have no history yet first get a baseline: the current row with the old values
    put back.
    """
    now = timezone.now()
    ids = list(befores)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        current = list(model._default_manager.filter(pk__in=chunk))
        have = set(model.history.filter(id__in=chunk).values_list("id", flat=True).distinct())
        baselines = []
        for row in current:
            if row.pk in have:
                continue
            old = copy(row)
            for attname, value in befores[row.pk].items():
                if not attname.startswith("_"):
                    setattr(old, attname, value)
            baselines.append(old)
        if baselines:
            _write_baselines(model, baselines)
        for row in current:
            row._history_date = now
            row._history_user = actor
        model.history.bulk_history_create(current, update=True, default_change_reason=reason)


def changed_ids(pairs: Iterable[tuple[str, int, dict]], model_key: str) -> dict[int, dict]:
    """{pk: before} for the entries of one model in a writer's (model, pk, before) list."""
    return {pk: before for key, pk, before in pairs if key == model_key}
