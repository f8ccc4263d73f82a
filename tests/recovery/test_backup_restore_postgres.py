"""The same restore test on PostgreSQL: pg_dump of one snapshot, pg_restore into an empty
database, every table's row count and content compared (`make test-postgres`)."""

import os
import subprocess
import sys
import uuid

import pytest

from .conftest import ROOT, DataDir

URL = os.environ.get("DATABASE_URL", "")
pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not URL.startswith("postgres"), reason="PostgreSQL only")]


def _admin():
    import psycopg

    base = URL.rsplit("/", 1)[0]
    return psycopg.connect(f"{base}/postgres", autocommit=True)


@pytest.fixture
def databases():
    """Two scratch databases of our own (the cluster is shared with other test runs)."""
    names = [f"recovery_{uuid.uuid4().hex[:10]}_{n}" for n in ("src", "dst")]
    with _admin() as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    base = URL.rsplit("/", 1)[0]
    yield [f"{base}/{name}" for name in names]
    with _admin() as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(url) -> dict[str, list]:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        names = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
        return {n: sorted(map(repr, conn.execute(f'SELECT * FROM "{n}"').fetchall()))
                for n in names}


def _cli(world, url, *args):
    return subprocess.run([sys.executable, "-m", "valuecrm.cli", *map(str, args)],
                          env={**world.env, "DATABASE_URL": url}, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_postgres_backup_restores_every_table(databases, tmp_path):
    source_url, target_url = databases
    source = DataDir(tmp_path / "source")
    source.env["DATABASE_URL"] = source_url
    source.world("setup")
    source.world("seed", 300)
    (source.path / "media").mkdir()
    (source.path / "media" / "a.bin").write_bytes(os.urandom(10_000))
    backup = tmp_path / "pg.tar.gz"
    done = _cli(source, source_url, "backup", "create", backup)
    assert done.returncode == 0, done.stderr

    target = DataDir(tmp_path / "target")
    restored = _cli(target, target_url, "backup", "restore", backup)
    assert restored.returncode == 0, restored.stderr
    before, after = _rows(source_url), _rows(target_url)
    assert sorted(before) == sorted(after) and len(before) > 40
    for name in before:
        assert before[name] == after[name], name
    assert len(after["customers_customer"]) >= 300
    assert (target.path / "media" / "a.bin").read_bytes() == (source.path / "media" / "a.bin").read_bytes()

    # Now it is not empty: refused without --force, replaced with it.
    again = _cli(target, target_url, "backup", "restore", backup)
    assert again.returncode == 2 and "not empty" in again.stderr
    forced = _cli(target, target_url, "backup", "restore", backup, "--force")
    assert forced.returncode == 0, forced.stderr
    assert _rows(target_url) == before
