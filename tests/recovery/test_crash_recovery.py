"""Crash recovery with a real worker killed by SIGKILL (issue 11 item 5): the run it was
working on is failed with a reason as soon as a worker starts again (or within a
minute by the sweep), nothing of it is half-written, and the next run succeeds."""

import csv
import json


def _customers_csv(path, n, prefix):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["name", "email", "phone", "city"])
        for i in range(n):
            out.writerow([f"{prefix} {i}", f"{prefix.lower()}{i}@example.com",
                          f"+86138{i:08d}", "上海"])
    return path


def _import_state(world, run_id):
    return world.query("SELECT status, detail_code, worker FROM imports_importrun WHERE id = ?",
                       run_id)[0]


def _progress(world, run_id):
    try:
        return json.loads((world.path / "imports" / "progress" / f"{run_id}.json").read_text())
    except (OSError, ValueError):
        return {}


def test_worker_killed_during_an_import(real_data_dir, tmp_path):
    world = real_data_dir
    customers_before = world.query("SELECT COUNT(*) FROM customers_customer")[0][0]
    big = world.world("queue-import", _customers_csv(tmp_path / "big.csv", 150_000, "Big"))["run"]
    worker = world.start_worker()
    # Killed mid-import: rows have been processed (and written, uncommitted).
    world.wait_for(lambda: _progress(world, big).get("processed", 0) >= 20_000, timeout=120)
    assert _import_state(world, big)[0] == "running"
    assert (world.path / "heartbeats" / f"import-{big}.json").exists()
    world.kill(worker)

    # The dead worker's run is still "running": nobody could mark it.
    status, _, dead_worker = _import_state(world, big)
    assert status == "running" and dead_worker.endswith(f":{worker.pid}")
    small = world.world("queue-import", _customers_csv(tmp_path / "small.csv", 50, "Small"))["run"]
    world.start_worker()

    # The new worker fails the dead run at start, then runs the next import to the end.
    world.wait_for(lambda: _import_state(world, big)[0] == "failed", timeout=30)
    assert _import_state(world, big)[1] == "worker_stopped"
    world.wait_for(lambda: _import_state(world, small)[0] == "succeeded", timeout=60)
    # Nothing of the killed import is in the database; all of the next one is.
    assert world.query("SELECT COUNT(*) FROM customers_customer WHERE name LIKE 'Big %'") == [(0,)]
    assert world.query("SELECT COUNT(*) FROM customers_customer")[0][0] == customers_before + 50
    assert world.query("PRAGMA integrity_check") == [("ok",)]
    assert not (world.path / "heartbeats" / f"import-{big}.json").exists()


def _score_state(world, run_id):
    return world.query("SELECT status, error, progress FROM insights_scorerun WHERE id = ?",
                       run_id)[0]


def test_worker_killed_during_scoring_does_not_block_the_next_run(real_data_dir):
    world = real_data_dir
    values_before = world.query("SELECT COUNT(*) FROM insights_customervalue")[0][0]
    first = world.world("queue-score")["run"]
    worker = world.start_worker()
    world.wait_for(lambda: _score_state(world, first)[0] == "running"
                   and _score_state(world, first)[2] >= 8, timeout=120, every=0.02)
    world.kill(worker)
    assert _score_state(world, first)[0] == "running"

    # Asking for a new run does not get "already running" for a run whose worker is gone:
    # the dead run is failed first (its pid is gone from this host).
    second = world.world("queue-score")
    assert "run" in second, second
    status, error, _ = _score_state(world, first)
    assert status == "failed" and "worker stopped" in error
    world.start_worker()
    world.wait_for(lambda: _score_state(world, second["run"])[0] == "succeeded", timeout=120)
    customers = world.query("SELECT COUNT(*) FROM customers_customer")[0][0]
    assert values_before == 0
    assert world.query("SELECT COUNT(*) FROM insights_customervalue")[0][0] == customers
    assert world.query("SELECT COUNT(*) FROM insights_customerscore WHERE run_id = ?", first) == [(0,)]
