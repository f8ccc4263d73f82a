"""The secret key of an installation: from VALUECRM_SECRET_KEY, or generated once and kept
in the data dir.

There is no built-in fallback key: a key that ships with the code signs every
installation's sessions and password-reset links with the same, public secret.
"""

import os
import secrets
import time
from pathlib import Path

FILE_NAME = "secret_key"


def load_or_create(data_dir: Path) -> str:
    """Return the key stored in `data_dir`/secret_key, creating it (mode 0600) on first use.

    O_EXCL makes the creation atomic: when several processes start at once (gunicorn
    workers, the worker, a CLI command) exactly one writes the key and the others read it.
    """
    path = Path(data_dir) / FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    key = secrets.token_urlsafe(50)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _read(path: Path) -> str:
    # Someone may have widened the mode by hand (a copy, a restore): narrow it again.
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    for _ in range(50):  # the creator may still be writing it
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it to generate a new secret key")
