"""`valuecrm serve` supervises its worker: restarts it when it dies (with back-off), reaps
it (no zombie), stops it on exit — with a real `valuecrm worker` killed by SIGKILL."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from valuecrm.commands.supervise import WorkerSupervisor

from .conftest import ROOT


def _state(pid: int) -> str:
    """The process state letter ("" when the pid no longer exists at all)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_killed_worker_is_reaped_and_restarted(real_data_dir):
    messages = []
    supervisor = WorkerSupervisor([sys.executable, "-m", "valuecrm.cli", "worker"],
                                  env=real_data_dir.env, cwd=ROOT, min_backoff=0.1,
                                  log=messages.append).start()
    try:
        first = _wait(lambda: supervisor.pid)
        os.kill(first, signal.SIGKILL)
        second = _wait(lambda: supervisor.pid not in (None, first) and supervisor.pid)
        assert _state(first) == ""  # reaped: not even a zombie is left
        assert _state(second) in ("R", "S", "D")
        assert supervisor.restarts == 1 and "exit code -9" in messages[0]
    finally:
        supervisor.stop()
    assert _state(second) == "" and supervisor.pid is None


def test_a_worker_that_keeps_dying_is_restarted_with_back_off():
    supervisor = WorkerSupervisor([sys.executable, "-c", "raise SystemExit(3)"],
                                  min_backoff=0.05, max_backoff=0.2, log=lambda m: None).start()
    try:
        _wait(lambda: len(supervisor.delays) >= 5, timeout=30)
    finally:
        supervisor.stop()
    assert supervisor.delays[:5] == [0.05, 0.1, 0.2, 0.2, 0.2]


def test_a_healthy_worker_resets_the_back_off(tmp_path):
    flag = tmp_path / "runs"
    # Dies at once twice, then runs for a while (longer than stable_after), then dies.
    script = ("import pathlib, sys, time; p = pathlib.Path(sys.argv[1]); "
              "n = int(p.read_text() or 0) if p.exists() else 0; p.write_text(str(n + 1)); "
              "time.sleep(2.5 if n == 2 else 0); raise SystemExit(1)")
    supervisor = WorkerSupervisor([sys.executable, "-c", script, str(flag)], min_backoff=0.05,
                                  max_backoff=1.0, stable_after=1.5, log=lambda m: None).start()
    try:
        _wait(lambda: len(supervisor.delays) >= 4, timeout=30)
    finally:
        supervisor.stop()
    assert supervisor.delays[:4] == [0.05, 0.1, 0.05, 0.1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _worker_child(serve_pid: int) -> int | None:
    for child in _children(serve_pid):
        try:
            if Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[-2:] == [b"worker", b""]:
                return child
        except OSError:
            pass
    return None


def test_serve_restarts_its_killed_worker_and_stops_it_on_exit(real_data_dir):
    serve = subprocess.Popen([sys.executable, "-m", "valuecrm.cli", "serve", "--port",
                              str(_free_port()), "--workers", "1"], env=real_data_dir.env,
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        first = _wait(lambda: _worker_child(serve.pid), timeout=120)
        os.kill(first, signal.SIGKILL)
        second = _wait(lambda: (c := _worker_child(serve.pid)) not in (None, first) and c,
                       timeout=60)
        assert _state(first) == ""  # reaped by serve
        children = _children(serve.pid)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=60) is not None
        for child in children:  # the web server and the worker went with it
            _wait(lambda c=child: _state(c) == "", timeout=20)
        assert _state(second) == ""
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
