"""`valuecrm serve` keeps its background worker alive: a child process that is restarted
when it dies (with back-off, so a worker that cannot start does not spin), reaped (no
zombie), and stopped when serve stops."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence


class WorkerSupervisor:
    """Run `command` as a child and restart it whenever it exits, until stop().

    Back-off: the first restart waits `min_backoff` seconds, each quick death doubles
    the wait up to `max_backoff`; a child that ran for `stable_after` seconds counts as
    healthy and resets it."""

    def __init__(self, command: Sequence[str], *, env: dict | None = None, cwd=None,
                 min_backoff: float = 1.0, max_backoff: float = 30.0,
                 stable_after: float = 60.0, log: Callable[[str], None] = print):
        self.command, self.env, self.cwd = list(command), env, cwd
        self.min_backoff, self.max_backoff, self.stable_after = min_backoff, max_backoff, stable_after
        self.log = log
        self.restarts = 0
        self.delays: list[float] = []
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    @property
    def pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process and self._process.poll() is None else None

    def start(self) -> WorkerSupervisor:
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self._process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd)
            return self._process

    def _run(self) -> None:
        delay = self.min_backoff
        while not self._stopping.is_set():
            process = self._spawn()
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()  # reaps it: a dead worker never lingers as a zombie
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= self.stable_after:
                delay = self.min_backoff
            self.log(f"The background worker stopped (exit code {code}); "
                     f"restarting it in {delay:g} s.")
            self.delays.append(delay)
            if self._stopping.wait(delay):
                return
            self.restarts += 1
            delay = min(self.max_backoff, delay * 2)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop restarting, ask the child to stop (SIGTERM), kill it if it does not."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
