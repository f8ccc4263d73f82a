"""Backups that restore (issue 11 item 4): `valuecrm backup create PATH` and
`valuecrm backup restore PATH [--force]` on a real data dir, every table's row count and
content compared after the restore, encrypted backups, refusals that change nothing."""

import io
import os
import sqlite3
import subprocess
import sys

import pytest

from valuecrm.backups import archive, checksums, crypto

from .conftest import ROOT, DataDir


def _cli(world: DataDir, *args, env=None):
    return subprocess.run([sys.executable, "-m", "valuecrm.cli", *map(str, args)],
                          env={**world.env, **(env or {})}, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def _tables(db) -> dict[str, list]:
    """Every table's rows in rowid order, read with plain sqlite3 (not the backup's code)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {n: _rows(conn, n) for n in names}
    finally:
        conn.close()


def _rows(conn, table: str) -> list:
    # FTS5's shadow tables (the customer search index) include WITHOUT ROWID ones, which a
    # plain SELECT already returns in primary-key order.
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
    except sqlite3.OperationalError:
        return conn.execute(f'SELECT * FROM "{table}"').fetchall()


READ_BACK = """
import json, django
django.setup()
from valuecrm.customers.models import Customer
from valuecrm.customers.selectors import customers_with_phone
rows = list(Customer.objects.exclude(email="").exclude(phone="").order_by("pk").values_list("email", "phone")[:20])
print(json.dumps({"emails": [r[0] for r in rows], "phones": [r[1] for r in rows],
                  "found": all(customers_with_phone(p).exists() for _e, p in rows)}))
"""


def _emails_and_phones(world: DataDir) -> dict:
    import json

    out = subprocess.run([sys.executable, "-c", READ_BACK], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**world.env, "DJANGO_SETTINGS_MODULE": "valuecrm.config.settings"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def source(real_data_dir):
    """A data dir with an upload and a note on a customer made after seeding."""
    upload = real_data_dir.path / "imports" / "files" / "abc-customers.csv"
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes("name,phone\n张三,13800000000\n".encode())
    (real_data_dir.path / "media").mkdir(exist_ok=True)
    (real_data_dir.path / "media" / "logo.png").write_bytes(os.urandom(300_000))
    return real_data_dir


def test_backup_restores_every_table_and_file(source, tmp_path):
    backup = tmp_path / "nightly.tar.gz"
    done = _cli(source, "backup", "create", backup)
    assert done.returncode == 0, done.stderr
    assert "Not encrypted" in done.stderr

    empty = DataDir(tmp_path / "fresh")
    restored = _cli(empty, "backup", "restore", backup)
    assert restored.returncode == 0, restored.stderr
    assert "match their checksums" in restored.stdout

    before, after = _tables(source.path / "valuecrm.sqlite3"), _tables(empty.path / "valuecrm.sqlite3")
    assert sorted(before) == sorted(after) and len(before) > 40
    for name in before:
        assert before[name] == after[name], name
    assert len(after["customers_customer"]) >= 1500 and len(after["sales_order"]) > 5000
    for rel in ("imports/files/abc-customers.csv", "media/logo.png", "secret_key", "field_keys"):
        assert (empty.path / rel).read_bytes() == (source.path / rel).read_bytes(), rel
    # The restored instance works: migrations are in place, the checksums agree.
    assert checksums.sqlite_checksums(empty.path / "valuecrm.sqlite3") == \
        checksums.sqlite_checksums(source.path / "valuecrm.sqlite3")
    # The e-mails and phones are encrypted (common/encryption.py): the restored field_keys
    # file reads them back, and the restored instance still finds a customer by phone.
    read_back = _emails_and_phones(empty)
    assert read_back == _emails_and_phones(source)
    assert read_back["found"] and all("@" in e for e in read_back["emails"])
    raw = sqlite3.connect(empty.path / "valuecrm.sqlite3").execute(
        "SELECT email FROM customers_customer WHERE email != '' LIMIT 1").fetchone()[0]
    assert raw.startswith("ev1:") and raw not in read_back["emails"]


def test_restore_refuses_a_data_dir_that_is_not_empty_unless_forced(source, tmp_path):
    backup = tmp_path / "b.tar.gz"
    assert _cli(source, "backup", "create", backup).returncode == 0
    target = DataDir(tmp_path / "other")
    target.world("setup")  # a data dir of its own: migrated, an admin
    own_rows = _tables(target.path / "valuecrm.sqlite3")

    refused = _cli(target, "backup", "restore", backup)
    assert refused.returncode == 2
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    assert _tables(target.path / "valuecrm.sqlite3") == own_rows  # nothing changed

    forced = _cli(target, "backup", "restore", backup, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _tables(target.path / "valuecrm.sqlite3") == _tables(source.path / "valuecrm.sqlite3")
    aside = [p for p in target.path.iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1 and _tables(aside[0] / "valuecrm.sqlite3") == own_rows


def test_encrypted_backup_needs_its_passphrase(source, tmp_path):
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    backup = tmp_path / "b.enc"
    done = _cli(source, "backup", "create", backup, "--passphrase-file", secret)
    assert done.returncode == 0, done.stderr
    raw = backup.read_bytes()
    assert raw.startswith(crypto.MAGIC) and b"SQLite format 3" not in raw
    assert "张三".encode() not in raw and b"manifest" not in raw

    target = DataDir(tmp_path / "fresh")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it")
    refused = _cli(target, "backup", "restore", backup, "--passphrase-file", wrong)
    assert refused.returncode == 2 and "Wrong passphrase" in refused.stderr
    assert not (target.path / "valuecrm.sqlite3").exists()
    assert not [p for p in target.path.iterdir() if p.name.startswith(".restore-")]

    ok = _cli(target, "backup", "restore", backup,
              env={"VALUECRM_BACKUP_PASSPHRASE": "correct horse battery staple"})
    assert ok.returncode == 0, ok.stderr
    assert _tables(target.path / "valuecrm.sqlite3") == _tables(source.path / "valuecrm.sqlite3")


# A flipped byte fails differently depending on where it lands (gzip CRC, a broken deflate
# block raising zlib.error, a tar header, a file's bytes): several places are tried.
@pytest.mark.parametrize("damage", ["truncate", "flip-1/5", "flip-2/5", "flip-1/2", "flip-3/5",
                                    "flip-4/5"])
def test_damaged_backup_is_refused_and_changes_nothing(source, tmp_path, damage):
    backup = tmp_path / "b.tar.gz"
    data_dir = tmp_path / "fresh"
    database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(data_dir / "valuecrm.sqlite3")}
    archive.backup_create(backup, data_dir=source.path, database={
        "ENGINE": "django.db.backends.sqlite3", "NAME": str(source.path / "valuecrm.sqlite3")})
    raw = bytearray(backup.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) * 2 // 3]
    else:
        numerator, denominator = map(int, damage.removeprefix("flip-").split("/"))
        raw[len(raw) * numerator // denominator] ^= 0xFF
    backup.write_bytes(bytes(raw))
    with pytest.raises(archive.BackupError):
        archive.backup_restore(backup, data_dir=data_dir, database=database)
    assert not (data_dir / "valuecrm.sqlite3").exists()
    assert [p.name for p in data_dir.iterdir()] == []


def test_manifest_names_every_table_with_its_rows(source, tmp_path):
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(source.path / "valuecrm.sqlite3")}
    manifest = archive.backup_create(tmp_path / "b.tar.gz", data_dir=source.path, database=db)
    rows = {name: len(values) for name, values in _tables(source.path / "valuecrm.sqlite3").items()}
    assert {name: t["rows"] for name, t in manifest["tables"].items()} == rows
    assert set(manifest["files"]) == {"imports/files/abc-customers.csv", "media/logo.png",
                                      "secret_key", "field_keys"}
    assert manifest["database"] == "sqlite" and manifest["format"] == archive.FORMAT


def test_checksum_sees_a_changed_row_in_any_order():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(1, "a", 1.5), (2, "b", 2.0)])
    first = checksums.table_checksum(conn.cursor(), "t")
    conn.execute("DELETE FROM t")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(2, "b", 2.0), (1, "a", 1.5)])
    assert checksums.table_checksum(conn.cursor(), "t") == first  # order does not matter
    conn.execute("UPDATE t SET amount = 2.0000001 WHERE id = 2")
    changed = checksums.table_checksum(conn.cursor(), "t")
    assert changed[0] == first[0] and changed[1] != first[1]


def test_encryption_streams_and_detects_tampering_and_truncation():
    payload = os.urandom(crypto.CHUNK * 2 + 123)
    sink = io.BytesIO()
    writer = crypto.EncryptingWriter(sink, "pw")
    for start in range(0, len(payload), 70_000):
        writer.write(payload[start:start + 70_000])
    writer.close()
    sealed = sink.getvalue()
    assert crypto.DecryptingReader(io.BytesIO(sealed), "pw").read() == payload
    with pytest.raises(crypto.DecryptionFailed):
        crypto.DecryptingReader(io.BytesIO(sealed), "other").read()
    cut = sealed[: crypto.HEADER_SIZE + 2 * (crypto.CHUNK + 21)]  # the last record dropped
    with pytest.raises(crypto.DecryptionFailed, match="cut short"):
        crypto.DecryptingReader(io.BytesIO(cut), "pw").read()
    flipped = bytearray(sealed)
    flipped[-5] ^= 1
    with pytest.raises(crypto.DecryptionFailed):
        crypto.DecryptingReader(io.BytesIO(bytes(flipped)), "pw").read()


def test_scheduled_backups_keep_the_newest(source, tmp_path):
    import datetime as dt

    directory = tmp_path / "backups"
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(source.path / "valuecrm.sqlite3")}
    pruned = []
    for day in range(1, 5):
        manifest = archive.backup_scheduled(directory=directory, keep=2, passphrase="",
                                            now=dt.datetime(2026, 12, day, 3), data_dir=source.path,
                                            database=db)
        pruned += manifest["pruned"]
    assert pruned == ["valuecrm-backup-20261201-030000.tar.gz",
                      "valuecrm-backup-20261202-030000.tar.gz"]
    assert sorted(p.name for p in directory.iterdir()) == [
        "valuecrm-backup-20261203-030000.tar.gz", "valuecrm-backup-20261204-030000.tar.gz"]


def test_the_nightly_backup_runs_at_three_site_time_and_can_be_turned_off(settings, monkeypatch):
    import datetime as dt

    from valuecrm.backups import tasks

    task = tasks.backup_nightly.task_class()
    # 03:00 in Asia/Shanghai is 19:00 UTC, the clock Huey's crontabs use.
    assert settings.TIME_ZONE == "Asia/Shanghai" and settings.VALUECRM_BACKUP_HOUR == 3
    assert task.validate_datetime(dt.datetime(2026, 12, 7, 19, 0))
    assert not task.validate_datetime(dt.datetime(2026, 12, 7, 3, 0))
    calls = []
    monkeypatch.setattr(tasks, "backup_scheduled", lambda: calls.append(1) or {"path": "x"})
    settings.VALUECRM_BACKUP_NIGHTLY = False
    assert tasks.backup_nightly.call_local() == "" and calls == []
    settings.VALUECRM_BACKUP_NIGHTLY = True
    assert tasks.backup_nightly.call_local() == "x" and calls == [1]
