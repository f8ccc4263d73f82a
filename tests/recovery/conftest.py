"""A real data dir (SQLite file, Huey queue, uploads) driven by real `valuecrm worker`
processes, for the crash tests: the in-memory test database cannot be shared with a
worker, and a worker killed with SIGKILL is the point."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORLD = Path(__file__).with_name("world.py")


class DataDir:
    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, "VALUECRM_DATA_DIR": str(path),
                    "PYTHONPATH": str(ROOT / "src"), "VALUECRM_LOG_LEVEL": "ERROR",
                    "VALUECRM_HUEY_IMMEDIATE": "0"}
        self.env.pop("DATABASE_URL", None)
        self.workers: list[subprocess.Popen] = []

    def world(self, *args) -> dict:
        out = subprocess.run([sys.executable, str(WORLD), *map(str, args)], env=self.env,
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    def start_worker(self) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-m", "valuecrm.cli", "worker"], env=self.env,
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)  # reaped: no zombie keeps its pid

    def stop_all(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(process)

    def query(self, sql: str, *params):
        # Read-only, like the web server would: WAL lets us read while the worker writes.
        with sqlite3.connect(f"file:{self.path / 'valuecrm.sqlite3'}?mode=ro", uri=True,
                             timeout=20) as conn:
            return conn.execute(sql, params).fetchall()

    def wait_for(self, predicate, timeout: float = 60, every: float = 0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout} s")


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory):
    """Migrated, with an admin and 1,500 demo customers: built once, copied per test."""
    path = tmp_path_factory.mktemp("recovery-template")
    world = DataDir(path)
    world.world("setup")
    world.world("seed", 1500)
    return path


@pytest.fixture
def real_data_dir(seeded_template, tmp_path):
    target = tmp_path / "data"
    shutil.copytree(seeded_template, target,
                    ignore=shutil.ignore_patterns("huey.sqlite3*", "sessions", "heartbeats"))
    world = DataDir(target)
    yield world
    world.stop_all()


def pytest_collection_modifyitems(config, items):
    """A DataDir world is a SQLite data dir whatever DATABASE_URL says (it drops the
    variable), so in make's PostgreSQL stage these tests would only repeat the SQLite stage,
    at ~4 worker-minutes: they run once, there. (Hooks in a conftest see every collected
    item, hence the check on the fixtures rather than on the path.)"""
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return
    sqlite_worlds = {"real_data_dir", "seeded_template"}
    keep, repeat = [], []
    for item in items:
        (repeat if sqlite_worlds & set(getattr(item, "fixturenames", ())) else keep).append(item)
    if repeat:
        config.hook.pytest_deselected(items=repeat)
        items[:] = keep
