"""Builders of deliberately messy import files."""

import csv
import io

import pytest


@pytest.fixture
def data_dir(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    return tmp_path


@pytest.fixture
def write_csv(data_dir):
    def _write(name, rows, *, encoding="utf-8", delimiter=",", raw_tail=b""):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
        path = data_dir / name
        path.write_bytes(buffer.getvalue().encode(encoding) + raw_tail)
        return path

    return _write


@pytest.fixture
def run_import(admin_user):
    """Upload, configure and execute an import in-process; returns the finished run."""
    from valuecrm.imports import services

    def _run(path, kind="customers", *, actor=None, mapping=None, dry_run=False, **options):
        actor = actor or admin_user
        with open(path, "rb") as handle:
            run = services.import_upload(actor=actor, kind=kind, name=path.name,
                                         chunks=[handle.read()])
        run = services.import_configure(actor=actor, run=run, mapping=mapping, options=options)
        return services.import_run_now(actor=actor, run=run, dry_run=dry_run)

    return _run


@pytest.fixture(autouse=True)
def huey_immediate():
    """Imports queued through the API or the wizard run inline, as in the worker."""
    from huey.contrib.djhuey import HUEY

    before = HUEY.immediate
    HUEY.immediate = True
    yield HUEY
    HUEY.immediate = before


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English; a page test in Chinese must not leak its language."""
    from django.utils import translation

    with translation.override("en"):
        yield
