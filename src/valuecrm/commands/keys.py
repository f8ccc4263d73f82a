"""`valuecrm keys rotate [--resume]` / `valuecrm keys rotate-index` / `valuecrm keys status`:
the field-encryption keys of common/encryption.py."""

import json
import os
from pathlib import Path

import typer

app = typer.Typer(help="Field-encryption keys (personal data encrypted at rest).", no_args_is_help=True)


def _state_file(data_dir: Path) -> Path:
    return Path(data_dir) / "field_keys.rotation"


def encrypted_models():
    from django.apps import apps

    from valuecrm.common.encryption import blind_index_fields, encrypted_fields

    return [m for m in apps.get_models() if encrypted_fields(m) or blind_index_fields(m)]


def rotate_data_key(data_dir: Path, *, resume: bool = False, batch: int = 1000, echo=print) -> int:
    """A new primary data key, every encrypted row re-encrypted under it (batches, resumable
    from the state file), then the old keys dropped. Returns rows rewritten."""
    from django.db import transaction

    from valuecrm.common import encryption

    state_path = _state_file(data_dir)
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    if state is None:
        if resume:
            raise typer.BadParameter("no rotation to resume")
        ring = encryption.add_primary_key(encryption.ring())
        encryption.save(ring, data_dir)  # old keys kept: rows under them stay readable
        encryption.set_ring(ring)
        state = {"primary": ring.primary, "done": {}}
        state_path.write_text(json.dumps(state))
    elif not resume:
        raise typer.BadParameter("a rotation is under way: finish it with --resume")
    total = 0
    for model in encrypted_models():
        label = model._meta.label_lower
        if state["done"].get(label) == "complete":
            continue

        def mark(last_pk, label=label):
            state["done"][label] = last_pk
            state_path.write_text(json.dumps(state))

        with transaction.atomic():
            count = encryption.reencrypt(model, batch=batch, after=state["done"].get(label), progress=mark)
        mark("complete")
        echo(f"{label}: {count} rows")
        total += count
    ring = encryption.retire_old_keys(encryption.ring())
    encryption.save(ring, data_dir)
    encryption.set_ring(ring)
    state_path.unlink()
    return total


def rotate_index_key(data_dir: Path, *, batch: int = 1000, echo=print) -> int:
    """A new blind-index key; every blind index and search token recomputed in one
    transaction (searches see the old or the new indexes, never a mix), then saved."""
    from django.db import transaction

    from valuecrm.common import encryption
    from valuecrm.customers.models import Customer, CustomerSearchToken
    from valuecrm.customers.search_tokens import refresh_tokens

    old = encryption.ring()
    new = encryption.with_new_index_key(old)
    total = 0
    try:
        with transaction.atomic():
            encryption.set_ring(new)
            for model in encrypted_models():
                if encryption.blind_index_fields(model):
                    count = encryption.reencrypt(model, batch=batch)
                    echo(f"{model._meta.label_lower}: {count} rows")
                    total += count
            CustomerSearchToken.objects.all().delete()
            after = 0
            while True:
                rows = list(Customer.objects.filter(pk__gt=after).order_by("pk")
                            .values_list("pk", "email", "phone")[:batch])
                if not rows:
                    break
                refresh_tokens([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                               replace=False)
                after = rows[-1][0]
    except BaseException:
        encryption.set_ring(old)
        raise
    encryption.save(new, data_dir)
    return total


def _setup():
    from valuecrm.cli import django_setup

    django_setup()
    from valuecrm.common.encryption import ENV_NAME

    if os.environ.get(ENV_NAME):
        typer.echo(f"The keys come from {ENV_NAME}: rotate them there (add a key, make it primary, "
                   "restart, run `valuecrm keys rotate --resume`).", err=True)
        raise typer.Exit(1)
    from django.conf import settings

    return settings.DATA_DIR


@app.command("rotate")
def rotate(resume: bool = typer.Option(False, "--resume", help="Finish an interrupted rotation."),
           batch: int = typer.Option(1000, min=1, help="Rows per UPDATE.")):
    """New data key: re-encrypt every encrypted value under it, then drop the old key."""
    data_dir = _setup()
    total = rotate_data_key(data_dir, resume=resume, batch=batch, echo=typer.echo)
    typer.echo(f"Re-encrypted {total} rows; the old data keys are retired.")


@app.command("rotate-index")
def rotate_index(batch: int = typer.Option(1000, min=1, help="Rows per UPDATE.")):
    """New blind-index key: recompute every blind index and search token."""
    data_dir = _setup()
    total = rotate_index_key(data_dir, batch=batch, echo=typer.echo)
    typer.echo(f"Recomputed the blind indexes of {total} rows.")


@app.command("status")
def status():
    """Which key is primary and how many keys the ring holds (never the keys)."""
    _setup()
    from valuecrm.common.encryption import ring

    current = ring()
    typer.echo(f"primary data key: {current.primary}; data keys: {', '.join(sorted(current.data_keys))}")
