"""Progress of a running import, readable while its transaction is still open.

The import writes inside one transaction, so progress saved on the ImportRun row
would stay invisible to the web server until the end (and on SQLite the writer
holds the only write lock). A small JSON file next to the uploads carries it instead.
"""

import json
import os
from pathlib import Path

from django.conf import settings


def progress_path(run_id: int) -> Path:
    return Path(settings.DATA_DIR) / "imports" / "progress" / f"{run_id}.json"


def progress_write(run_id: int, **values) -> None:
    path = progress_path(run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values))
    os.replace(tmp, path)


def progress_read(run_id: int) -> dict:
    try:
        return json.loads(progress_path(run_id).read_text())
    except (OSError, ValueError):
        return {}


def progress_clear(run_id: int) -> None:
    try:
        progress_path(run_id).unlink()
    except OSError:
        pass
