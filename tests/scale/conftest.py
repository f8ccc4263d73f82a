"""A real data directory, real worker processes and both brokers (SQLite-Huey and Redis)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_redis() -> str:
    """Debian's redis-server on 127.0.0.1 (scripts/start-redis.sh); the URL. Fails, never skips."""
    out = subprocess.run(["bash", "-c", "source scripts/start-redis.sh >/dev/null && echo $VALUECRM_REDIS_URL"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip(), f"Redis did not start: {out.stderr}"
    return out.stdout.strip()


class Site:
    """One installation in a temporary data dir (its own SQLite database), driven by subprocesses."""

    def __init__(self, data_dir: Path, broker: str):
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "VALUECRM_REDIS_URL", "VALUECRM_HUEY_IMMEDIATE")}
        self.env.update({"VALUECRM_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT / "src"),
                         "DJANGO_SETTINGS_MODULE": "valuecrm.config.settings", "VALUECRM_WORKERS": "2"})
        if broker == "redis":
            self.env["VALUECRM_REDIS_URL"] = start_redis()
        self.workers: list[subprocess.Popen] = []

    def cli(self, *args: str, timeout: float = 300) -> str:
        out = subprocess.run([sys.executable, "-m", "valuecrm.cli", *args], env=self.env, cwd=self.data_dir,
                             capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def python(self, code: str, timeout: float = 120) -> str:
        script = "from valuecrm.cli import django_setup\ndjango_setup()\n" + code
        out = subprocess.run([sys.executable, "-c", script], env=self.env, cwd=self.data_dir,
                             capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout.strip()

    def start_worker(self) -> subprocess.Popen:
        log = open(self.data_dir / f"worker-{len(self.workers)}.log", "w")  # noqa: SIM115 - kept for the process
        proc = subprocess.Popen([sys.executable, "-m", "valuecrm.cli", "worker"], env=self.env,
                                cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    def wait_for(self, code: str, expected: str, timeout: float = 180) -> str:
        """Poll (inside one process, every 0.1 s) until ``code``, which sets ``value``, gives ``expected``."""
        loop = (f"import time\nCODE = {code!r}\ndeadline = time.monotonic() + {timeout}\n"
                "while True:\n    ns = {}\n    exec(CODE, ns)\n"
                f"    if str(ns['value']) == {expected!r} or time.monotonic() > deadline:\n"
                "        print(ns['value'])\n        break\n    time.sleep(0.1)\n")
        value = self.python(loop, timeout=timeout + 60)
        if value != expected:
            logs = "\n".join(p.read_text()[-2000:] for p in self.data_dir.glob("worker-*.log"))
            raise AssertionError(f"waited {timeout}s for {expected!r}, last {value!r}\n{logs}")
        return value

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.workers = []


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    """A migrated SQLite database with 600 demo customers, built once and copied per site."""
    base = tmp_path_factory.mktemp("site-base")
    site = Site(base, "sqlite")
    site.cli("migrate")
    site.cli("demo", "--customers", "600", "--seed", "7")
    return base / "valuecrm.sqlite3"


@pytest.fixture(params=["sqlite", "redis"])
def site(request, demo_db, tmp_path):
    import shutil

    shutil.copy(demo_db, tmp_path / "valuecrm.sqlite3")
    (tmp_path / "secret_key").write_text((demo_db.parent / "secret_key").read_text())
    made = Site(tmp_path, request.param)
    if request.param == "redis":
        made.python("from huey.contrib.djhuey import HUEY\nHUEY.flush()")
    yield made
    made.stop()
