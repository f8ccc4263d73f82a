"""One backup file: the database (SQLite's online backup API, or pg_dump of one snapshot),
the data dir's own files (uploads, keys) and a manifest with every table's row count
and content checksum and every file's SHA-256 — optionally encrypted (crypto.py).

Layout: a gzip'd tar stream, members `database/…`, `files/<path in the data dir>`, and
`manifest.json` last (it is written once everything in it has been read).

A restore goes into an empty data dir (one with a database that has tables, or with
files of its own, is refused unless forced), stages everything first, checks every
file and table against the manifest, and only then puts it in place — so a damaged,
truncated or wrongly decrypted backup never replaces anything on SQLite. Forced
restores move what they replace to DATA_DIR/replaced-<time>/.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from valuecrm import __version__
from valuecrm.backups import checksums
from valuecrm.backups.crypto import (
    DecryptingReader,
    DecryptionFailed,
    EncryptingWriter,
    is_encrypted,
)
from valuecrm.common import encryption

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/valuecrm.sqlite3"
POSTGRES_MEMBER = "database/valuecrm.pgdump"
# Data dir entries that are not data: rebuilt, transient, or other backups.
SKIPPED = {"huey.sqlite3", "huey.sqlite3-wal", "huey.sqlite3-shm", "huey.sqlite3-journal",
           "sessions", "static", "heartbeats", "backups", "imports/progress"}
SKIPPED_PREFIXES = ("replaced-", ".restore-")
# Created by the app on its first start: a data dir holding only these is still empty.
NOT_CONTENT = {"secret_key", "field_keys"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for people."""


@dataclass(frozen=True)
class Database:
    vendor: str  # "sqlite" | "postgresql"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""

    @classmethod
    def from_settings(cls, config: dict) -> Database:
        engine = config["ENGINE"]
        vendor = "sqlite" if "sqlite" in engine else "postgresql" if "postgresql" in engine else engine
        if vendor not in ("sqlite", "postgresql"):
            raise BackupError(f"Backups support SQLite and PostgreSQL, not {engine}.")
        return cls(vendor, str(config["NAME"]), config.get("USER") or "",
                   config.get("PASSWORD") or "", config.get("HOST") or "", str(config.get("PORT") or ""))

    def pg_env(self) -> dict:
        env = {**os.environ, "PGDATABASE": self.name}
        for key, value in (("PGUSER", self.user), ("PGPASSWORD", self.password),
                           ("PGHOST", self.host), ("PGPORT", self.port)):
            if value:
                env[key] = value
        return env

    def pg_connect(self):
        import psycopg

        return psycopg.connect(dbname=self.name, user=self.user or None,
                               password=self.password or None, host=self.host or None,
                               port=self.port or None)


def _defaults(data_dir, database) -> tuple[Path, Database]:
    if data_dir is None or database is None:
        from django.conf import settings

        data_dir = settings.DATA_DIR if data_dir is None else data_dir
        database = settings.DATABASES["default"] if database is None else database
    if isinstance(database, dict):
        database = Database.from_settings(database)
    return Path(data_dir).resolve(), database


# ------------------------------------------------------------------------------ files
def _skipped(rel: str, database: Database, data_dir: Path) -> bool:
    top = rel.split("/", 1)[0]
    if rel in SKIPPED or top in SKIPPED or top.startswith(SKIPPED_PREFIXES):
        return True
    if any(rel.startswith(s + "/") for s in SKIPPED):
        return True
    if rel.endswith((".tmp", ".partial")):
        return True
    if database.vendor == "sqlite":
        db = Path(database.name).resolve()
        for suffix in ("", "-wal", "-shm", "-journal"):
            if (data_dir / rel).resolve() == db.with_name(db.name + suffix):
                return True
    return False


def data_files(data_dir: Path, database: Database, exclude: set[Path] = frozenset()):
    """(path inside the data dir, absolute path) of the data dir's own files, sorted."""
    found = []
    for root, dirs, files in os.walk(data_dir):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(data_dir).as_posix()
            if path.is_symlink() or path.resolve() in exclude or _skipped(rel, database, data_dir):
                continue
            found.append((rel, path))
    return found


class _HashingReader:
    def __init__(self, handle):
        self.handle, self.sha = handle, hashlib.sha256()

    def read(self, n=-1):
        data = self.handle.read(n)
        self.sha.update(data)
        return data


def _add_file(tar: tarfile.TarFile, path: Path, arcname: str) -> dict | None:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None  # removed meanwhile (a retention rule): not part of this backup
    with handle:
        stat = os.fstat(handle.fileno())
        info = tarfile.TarInfo(arcname)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o600
        reader = _HashingReader(handle)
        tar.addfile(info, reader)
    return {"size": info.size, "sha256": reader.sha.hexdigest()}


def _add_bytes(tar: tarfile.TarFile, arcname: str, data: bytes) -> None:
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    tar.addfile(info, io.BytesIO(data))


# ------------------------------------------------------------------------------ database
def _dump_sqlite(database: Database, work: Path) -> tuple[Path, dict]:
    source = Path(database.name)
    copy = work / "valuecrm.sqlite3"
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(copy)
    try:
        # All pages in one step: one consistent snapshot, and in WAL mode the app keeps
        # reading and writing meanwhile.
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    finally:
        dst.close()
        src.close()
    return copy, checksums.sqlite_checksums(copy)


def _dump_postgres(database: Database, work: Path) -> tuple[Path, dict]:
    from psycopg import IsolationLevel

    dump = work / "valuecrm.pgdump"
    conn = database.pg_connect()
    try:
        # The checksums and pg_dump see the same snapshot of the database.
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            done = subprocess.run(
                ["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                 f"--snapshot={snapshot}", f"--file={dump}"],
                env=database.pg_env(), capture_output=True, text=True)
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")
            tables = checksums.postgres_checksums(cursor)
        conn.rollback()
    finally:
        conn.close()
    return dump, tables


def _live_checksums(database: Database) -> dict:
    if database.vendor == "sqlite":
        return checksums.sqlite_checksums(Path(database.name))
    conn = database.pg_connect()
    try:
        with conn.cursor() as cursor:
            return checksums.postgres_checksums(cursor)
    finally:
        conn.rollback()
        conn.close()


# ------------------------------------------------------------------------------ create
def backup_create(target, *, passphrase: str | None = None, data_dir=None, database=None) -> dict:
    """Write a backup to `target` (written aside and renamed at the end, so an interrupted
    backup never looks like a finished one). Returns its manifest."""
    data_dir, database = _defaults(data_dir, database)
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    started = time.perf_counter()
    manifest = {"format": FORMAT, "app_version": __version__,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "database": database.vendor, "encrypted": bool(passphrase)}
    with _work_dir(target.parent) as work:
        if database.vendor == "sqlite":
            db_file, manifest["tables"] = _dump_sqlite(database, work)
            member = SQLITE_MEMBER
        else:
            db_file, manifest["tables"] = _dump_postgres(database, work)
            member = POSTGRES_MEMBER
        try:
            with open(partial, "wb") as raw:
                sink = EncryptingWriter(raw, passphrase) if passphrase else raw
                with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0) as packed, \
                        tarfile.open(fileobj=packed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    manifest["database_file"] = _add_file(tar, db_file, member)
                    files = {}
                    for rel, path in data_files(data_dir, database, {target, partial}):
                        entry = _add_file(tar, path, f"files/{rel}")
                        if entry is not None:
                            files[rel] = entry
                    manifest["files"] = files
                    _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
                if passphrase:
                    sink.close()
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    manifest["seconds"] = round(time.perf_counter() - started, 2)
    manifest["bytes"] = target.stat().st_size
    return manifest


class _work_dir:
    """A scratch directory next to the target (same disk, removed afterwards)."""

    def __init__(self, parent: Path):
        self.path = parent / f".valuecrm-backup-{uuid.uuid4().hex}.tmp"

    def __enter__(self) -> Path:
        self.path.mkdir(mode=0o700)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


# ------------------------------------------------------------------------------ restore
def data_dir_content(data_dir=None, database=None) -> list[str]:
    """What makes the data dir not empty (a database with tables, files of its own);
    [] when a restore may go ahead without --force."""
    data_dir, database = _defaults(data_dir, database)
    found = []
    if database.vendor == "sqlite":
        path = Path(database.name)
        if path.exists() and path.stat().st_size:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                n = len(checksums.sqlite_tables(conn))
            finally:
                conn.close()
            if n:
                found.append(f"the database {path} has {n} tables")
    else:
        conn = database.pg_connect()
        try:
            with conn.cursor() as cursor:
                n = len(checksums.postgres_tables(cursor))
        finally:
            conn.close()
        if n:
            found.append(f"the database {database.name} has {n} tables")
    files = [rel for rel, _ in data_files(data_dir, database) if rel not in NOT_CONTENT]
    if files:
        found.append(f"{len(files)} files in {data_dir} (e.g. {', '.join(files[:3])})")
    return found


def _safe_member(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"The backup holds a file outside the data dir: {name!r}.")
    return path.as_posix()


def _open_stream(raw, passphrase: str | None, encrypted: bool):
    if encrypted:
        if not passphrase:
            raise BackupError("This backup is encrypted: give its passphrase.")
        return DecryptingReader(raw, passphrase)
    return raw


def _extract(source: Path, passphrase: str | None, staging: Path) -> tuple[dict, dict, Path | None]:
    """Unpack into `staging`; returns (manifest, {file: sha256 as read}, database file)."""
    encrypted = is_encrypted(source)
    seen: dict[str, dict] = {}
    manifest, db_file = None, None
    with open(source, "rb") as raw:
        stream = _open_stream(raw, passphrase, encrypted)
        try:
            with gzip.GzipFile(fileobj=stream, mode="rb") as packed, \
                    tarfile.open(fileobj=packed, mode="r|") as tar:
                for member in tar:
                    name = _safe_member(member.name)
                    if not member.isfile():
                        raise BackupError(f"The backup holds something that is not a file: {name!r}.")
                    handle = tar.extractfile(member)
                    if name == MANIFEST:
                        manifest = json.loads(handle.read(10 << 20))
                        continue
                    out = staging / name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    sha = hashlib.sha256()
                    with open(out, "wb") as written:
                        while chunk := handle.read(1 << 20):
                            sha.update(chunk)
                            written.write(chunk)
                    seen[name] = {"size": member.size, "sha256": sha.hexdigest()}
                    if name in (SQLITE_MEMBER, POSTGRES_MEMBER):
                        db_file = out
        except DecryptionFailed as exc:
            raise BackupError(str(exc)) from exc
        # zlib.error is not an OSError: a flipped byte inside a deflate block raises it.
        except (OSError, EOFError, tarfile.TarError, ValueError, zlib.error) as exc:
            raise BackupError(f"The backup cannot be read ({exc}); it is damaged or cut short.") from exc
    if manifest is None:
        raise BackupError("The backup has no manifest; it is damaged or cut short.")
    return manifest, seen, db_file


def _check_files(manifest: dict, seen: dict, db_file: Path | None) -> None:
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Backup format {manifest.get('format')} is not supported here.")
    expected = {f"files/{rel}": entry for rel, entry in manifest.get("files", {}).items()}
    member = SQLITE_MEMBER if manifest.get("database") == "sqlite" else POSTGRES_MEMBER
    expected[member] = manifest.get("database_file")
    problems = [name for name in sorted(set(expected) | set(seen))
                if expected.get(name) is None or seen.get(name) != expected[name]]
    if problems or db_file is None:
        raise BackupError("The backup does not match its manifest: " + ", ".join(problems[:10]))


def backup_restore(source, *, passphrase: str | None = None, force: bool = False,
                   data_dir=None, database=None) -> dict:
    """Restore a backup into this data dir and database. Refuses a non-empty one unless
    `force`; checks every file and table against the manifest. Returns the manifest."""
    data_dir, database = _defaults(data_dir, database)
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"No backup file at {source}.")
    existing = data_dir_content(data_dir, database)
    if existing and not force:
        raise BackupError("The data dir is not empty (" + "; ".join(existing) +
                          "). Restore into an empty one, or use --force to replace it.")
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".restore-{uuid.uuid4().hex}"
    staging.mkdir(mode=0o700)
    try:
        manifest, seen, db_file = _extract(source, passphrase, staging)
        if manifest.get("database") != database.vendor:
            raise BackupError(f"This is a {manifest.get('database')} backup; this installation "
                              f"uses {database.vendor}.")
        _check_files(manifest, seen, db_file)
        if database.vendor == "sqlite":
            problems = checksums.differences(manifest["tables"], checksums.sqlite_checksums(db_file))
            if problems:
                raise BackupError("The backup's database does not match its manifest: " +
                                  "; ".join(problems[:10]))
        if existing:
            _move_aside(data_dir, database)
        for rel in manifest.get("files", {}):
            target = data_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / "files" / rel, target)
        if database.vendor == "sqlite":
            _place_sqlite(db_file, Path(database.name))
        else:
            _pg_restore(db_file, database, clean=bool(existing))
            problems = checksums.differences(manifest["tables"], _live_checksums(database))
            if problems:
                raise BackupError("The restored database does not match the backup: " +
                                  "; ".join(problems[:10]))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # The restored field_keys file (common/encryption.py) opens the restored data.
    encryption.set_ring(None)
    return manifest


def _move_aside(data_dir: Path, database: Database) -> Path:
    aside = data_dir / f"replaced-{dt.datetime.now():%Y%m%d-%H%M%S}"
    for rel, path in data_files(data_dir, database):
        target = aside / "files" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    if database.vendor == "sqlite":
        db = Path(database.name)
        for suffix in ("", "-wal", "-shm"):
            old = db.with_name(db.name + suffix)
            if old.exists():
                aside.mkdir(parents=True, exist_ok=True)
                os.replace(old, aside / old.name)
    return aside


def _place_sqlite(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):  # of a database that is no longer there
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(staged, target)


def _pg_restore(dump: Path, database: Database, *, clean: bool) -> None:
    command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
               f"--dbname={database.name}"]
    if clean:
        command += ["--clean", "--if-exists"]
    done = subprocess.run([*command, str(dump)], env=database.pg_env(), capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()[-2000:]}")


# ------------------------------------------------------------------------------ nightly
BACKUP_NAME = "valuecrm-backup-{:%Y%m%d-%H%M%S}.tar.gz"


def backups_prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest scheduled backups in `directory`; returns them."""
    found = sorted(p for p in Path(directory).glob("valuecrm-backup-*.tar.gz*")
                   if not p.name.endswith(".partial"))
    doomed = found[:-keep] if keep > 0 else found
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def backup_scheduled(*, directory=None, keep: int | None = None, passphrase: str | None = None,
                     now: dt.datetime | None = None, data_dir=None, database=None) -> dict:
    """The nightly backup: a new file in the backup dir, then the retention rule."""
    from django.conf import settings

    directory = Path(directory or settings.VALUECRM_BACKUP_DIR)
    keep = settings.VALUECRM_BACKUP_KEEP if keep is None else keep
    passphrase = settings.VALUECRM_BACKUP_PASSPHRASE if passphrase is None else passphrase
    name = BACKUP_NAME.format(now or dt.datetime.now()) + (".enc" if passphrase else "")
    manifest = backup_create(directory / name, passphrase=passphrase or None, data_dir=data_dir,
                             database=database)
    manifest["path"] = str(directory / name)
    manifest["pruned"] = [p.name for p in backups_prune(directory, keep)]
    return manifest
