"""Value-engine benchmark: ValueCRM's engine vs lifetimes 0.11.3 (and PyMC-Marketing), one run.

Run from the repository root:

    .venv/bin/python bench/engine.py            # full sizes, writes bench/README.md
    .venv/bin/python bench/engine.py --quick    # small sizes, smoke test (README untouched)

What it does
------------
1. Simulates a shop at daily resolution (integer purchase days, Gamma-Gamma spend)
   from known BG/NBD parameters, until it has ``--transactions`` rows.
2. Times, median of ``--repeats`` runs each:
   * ``summarize`` of all transactions (ours) vs lifetimes'
     ``summary_data_from_transaction_data`` on the first ``--peer-summary-rows`` rows;
   * BG/NBD and Pareto/NBD fits on ``--customers`` customers (weekly units) vs
     lifetimes plain and "at its best" (identical rows collapsed into weights);
   * scoring (P(alive), expected purchases in 52 weeks, 12-month CLV);
   * PyMC-Marketing's BG/NBD MAP fit on a subset, when its venv exists.
3. Checks parameter agreement with lifetimes (relative difference).
4. Prints a table and (full runs) rewrites the "## Engine" section of bench/README.md.

The peers run as subprocesses in their own throwaway venvs (made by
``--setup-peers`` or by hand): ``var/bench/lifetimes-venv`` (lifetimes==0.11.3,
numpy<2, pandas<2, scipy<1.13, autograd<1.7) and ``var/bench/pymc-venv``
(pymc-marketing). They read the same data from an .npz file.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed for this process and both peers
alike (the script re-executes itself without them) unless ``--keep-openblas``.
"""

from __future__ import annotations

import os
import sys

_OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if "--keep-openblas" not in sys.argv and any(v in os.environ for v in _OPENBLAS_VARS):
    env = {k: v for k, v in os.environ.items() if k not in _OPENBLAS_VARS}
    env["VALUECRM_BENCH_OPENBLAS_UNSET"] = "1"
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from valuecrm.engine.clv import customer_lifetime_value  # noqa: E402
from valuecrm.engine.models.bgnbd import BetaGeo  # noqa: E402
from valuecrm.engine.models.gammagamma import GammaGamma  # noqa: E402
from valuecrm.engine.models.paretonbd import ParetoNBD  # noqa: E402
from valuecrm.engine.simulate import simulate_bgnbd_transactions  # noqa: E402
from valuecrm.engine.summary import summarize  # noqa: E402

VAR = ROOT / "var" / "bench"
LIFETIMES_PY = VAR / "lifetimes-venv" / "bin" / "python"
PYMC_PY = VAR / "pymc-venv" / "bin" / "python"
START = np.datetime64("2023-01-01")
# True generating parameters (per day): BG/NBD purchases, Gamma-Gamma spend.
TRUE = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 3.0, "p": 6.0, "q": 4.0, "v": 15.0}
OBSERVATION_DAYS, COHORT_DAYS = 730, 365


# ----------------------------------------------------------------------------- data


def simulate_shop(n_transactions: int, seed: int = 42) -> pd.DataFrame:
    """About ``n_transactions`` order rows from the engine's own BG/NBD simulator.

    ``simulate_bgnbd_transactions`` (daily resolution: continuous purchase times
    stamped with their calendar day, Gamma-Gamma spend), customers acquired over
    one year and observed for two. A pilot run sizes the customer count; the log is
    then cut to whole customers at ``n_transactions`` rows and shuffled by day, like
    a real order log.
    """
    kwargs = {
        "r": TRUE["r"],
        "alpha": TRUE["alpha"],
        "a": TRUE["a"],
        "b": TRUE["b"],
        "observation_days": OBSERVATION_DAYS,
        "cohort_days": COHORT_DAYS,
        "spend_p": TRUE["p"],
        "spend_q": TRUE["q"],
        "spend_gamma": TRUE["v"],
        "start": str(START),
    }
    pilot = simulate_bgnbd_transactions(20_000, seed=seed + 1, **kwargs)
    per_customer = len(pilot) / 20_000
    n_customers = int(n_transactions / per_customer * 1.03) + 1
    log = simulate_bgnbd_transactions(n_customers, seed=seed, **kwargs)
    if len(log) > n_transactions:
        last = log["customer_id"].iloc[n_transactions - 1]
        log = log.iloc[: int(np.searchsorted(log["customer_id"].to_numpy(), last, side="left"))]
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(log)), log["date"].to_numpy()))
    return log.iloc[order].reset_index(drop=True)


# ---------------------------------------------------------------------------- timing


def timed(fn, repeats: int):
    """Median wall-clock seconds, all runs, the last result, median CPU (process) seconds.

    CPU time is reported too because it hardly depends on how busy the machine is;
    for multi-threaded code (DuckDB) it is the sum over threads.
    """
    seconds, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(seconds), seconds, result, statistics.median(cpu)


def clv_12_months(bg, gg, frequency, recency, T, monetary, discount=0.01):
    """The engine's 12-month CLV with lifetimes' month (4.345 weeks) for a like-for-like check."""
    return customer_lifetime_value(
        bg,
        gg,
        frequency,
        recency,
        T,
        monetary,
        horizon_months=12,
        discount_rate_monthly=discount,
        time_unit_days=7.0,
        days_per_month=4.345 * 7,
    )


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        ram = f"{kb / 1024**2:.0f} GiB"
    except (OSError, ValueError):
        pass
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        )
    except Exception:  # noqa: BLE001 - informational only
        blas = "unknown"
    return {
        "date": dt.date.today().isoformat(),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "blas": blas,
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "openblas_env": "unset for this run"
        if os.environ.get("VALUECRM_BENCH_OPENBLAS_UNSET")
        else "as set on the machine",
    }


def run_peer(python: Path, script: str, args: list[str], timeout: float) -> dict:
    if not python.exists():
        return {"error": f"{python} not found (run with --setup-peers)"}
    try:
        proc = subprocess.run(
            [str(python), str(ROOT / "bench" / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    answer = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not answer:
        return {"error": "no JSON answer on stdout"}
    return json.loads(answer[-1])


def setup_peers() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    if not LIFETIMES_PY.exists():
        subprocess.run(["python3", "-m", "venv", str(VAR / "lifetimes-venv")], check=True)
        subprocess.run(
            [
                str(LIFETIMES_PY),
                "-m",
                "pip",
                "install",
                "-q",
                "lifetimes==0.11.3",
                "numpy<2",
                "pandas<2",
                "scipy<1.13",
                "autograd<1.7",
            ],
            check=True,
        )
    if not PYMC_PY.exists():
        subprocess.run(["python3", "-m", "venv", str(VAR / "pymc-venv")], check=True)
        subprocess.run([str(PYMC_PY), "-m", "pip", "install", "-q", "pymc-marketing"], check=False)


def rel_diff(ours: dict, peer: dict) -> float:
    """Max relative difference over the peer's parameters (lifetimes calls Gamma-Gamma's γ "v")."""
    alias = {"v": "gamma"}
    return max(abs(ours[alias.get(k, k)] - v) / abs(v) for k, v in peer.items())


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, README untouched")
    parser.add_argument("--transactions", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--peer-summary-rows", type=int, default=1_000_000)
    parser.add_argument("--pnbd-plain-rows", type=int, default=100_000)
    parser.add_argument("--pymc-rows", type=int, default=100_000)
    parser.add_argument("--clv-peer-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-repeats", type=int, default=2)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-pymc", action="store_true")
    parser.add_argument("--setup-peers", action="store_true", help="create the peer venvs first")
    parser.add_argument("--keep-openblas", action="store_true")
    parser.add_argument("--write-readme", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite bench/README.md from the last full run's var/bench/results.json",
    )
    args = parser.parse_args()
    if args.render_only:
        report = render_saved(json.loads((VAR / "results.json").read_text()))
        print(report)
        write_engine_section(report)
        return 0
    if args.quick:
        args.transactions, args.customers = 200_000, 20_000
        args.peer_summary_rows, args.pnbd_plain_rows = 50_000, 5_000
        args.pymc_rows, args.clv_peer_rows, args.peer_repeats = 5_000, 5_000, 1
    write_readme = (not args.quick) if args.write_readme is None else args.write_readme
    if args.setup_peers:
        setup_peers()
    VAR.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"# machine: {info}", flush=True)

    # --- data
    t0 = time.perf_counter()
    tx = simulate_shop(args.transactions)
    n_tx = len(tx)
    observation_end = (START + np.timedelta64(OBSERVATION_DAYS - 1, "D")).item()
    tx_day = (tx["date"].to_numpy() - np.datetime64(START, "ns")) // np.timedelta64(1, "D")
    print(
        f"# simulated {n_tx:,} transactions of {tx['customer_id'].nunique():,} customers "
        f"in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )

    results: list[dict] = []

    def add(task, n, ours, peer=None, peer_label="", target="", note=""):
        """ours / peer: (median wall-clock s, median CPU s); peer None when not run."""
        ours_s, ours_cpu = ours
        peer_s, peer_cpu = peer if peer else (None, None)
        results.append(
            {
                "task": task,
                "n": n,
                "ours": ours_s,
                "ours_cpu": ours_cpu,
                "peer": peer_s,
                "peer_cpu": peer_cpu,
                "peer_label": peer_label,
                "target": target,
                "note": note,
            }
        )
        ratio = f"{peer_s / ours_s:8.1f}x" if peer_s else "        "
        peer_txt = f"{peer_s:9.3f}" if peer_s else "        -"
        print(
            f"{task:<42} {n:>11,} ours {ours_s:8.3f} s  {peer_label:<22} {peer_txt} s {ratio}",
            flush=True,
        )

    # --- summary (ours on everything)
    summary_s, summary_runs, summary, summary_cpu = timed(
        lambda: summarize(tx, unit="D", observation_end=observation_end), args.repeats
    )
    print(f"# summary runs: {[round(s, 3) for s in summary_runs]}", flush=True)

    # --- fit data: the first N customers, weekly units
    first = summary.iloc[: args.customers]
    freq = first["frequency"].to_numpy(float)
    rec = first["recency"].to_numpy(float) / 7.0
    big_t = first["T"].to_numpy(float) / 7.0
    money = first["monetary_value"].to_numpy(float)
    npz = VAR / ("bench-quick.npz" if args.quick else "bench.npz")
    peer_rows = min(args.peer_summary_rows, n_tx)
    np.savez(
        npz,
        frequency=freq,
        recency=rec,
        T=big_t,
        monetary=money,
        tx_customer=tx["customer_id"].to_numpy()[:peer_rows],
        tx_day=tx_day[:peer_rows].astype(np.int32),
        tx_amount=tx["amount"].to_numpy()[:peer_rows],
        start_date=str(START),
        end_date=str(observation_end),
    )

    bg_s, bg_runs, bg, bg_cpu = timed(lambda: BetaGeo().fit(freq, rec, big_t), args.repeats)
    pn_s, pn_runs, pn, pn_cpu = timed(lambda: ParetoNBD().fit(freq, rec, big_t), args.repeats)
    repeaters = money > 0
    gg = GammaGamma().fit(freq[repeaters], money[repeaters])

    def score():
        alive = bg.p_alive(freq, rec, big_t)
        expected = bg.expected_purchases(52.0, freq, rec, big_t)
        clv = clv_12_months(bg, gg, freq, rec, big_t, money)
        return alive, expected, clv

    sc_s, sc_runs, (alive, expected, clv), sc_cpu = timed(score, args.repeats)
    n_clv = min(args.clv_peer_rows, freq.shape[0])
    clv_small_s, _, clv_small, clv_small_cpu = timed(
        lambda: clv_12_months(bg, gg, freq[:n_clv], rec[:n_clv], big_t[:n_clv], money[:n_clv]),
        args.repeats,
    )
    print(f"# ours: BG/NBD {bg.params_} in {bg_runs}", flush=True)
    print(f"# ours: Pareto/NBD {pn.params_} in {pn_runs}", flush=True)

    # --- peers
    peer: dict = {"tasks": {}}
    if not args.no_peers:
        peer = run_peer(
            LIFETIMES_PY,
            "_lifetimes_peer.py",
            [
                "--data",
                str(npz),
                "--tasks",
                "summary,bgnbd_plain,bgnbd_best,pnbd_best,pnbd_plain,scoring",
                "--repeats",
                str(args.peer_repeats),
                "--summary-rows",
                str(peer_rows),
                "--pnbd-plain-rows",
                str(args.pnbd_plain_rows),
                "--clv-rows",
                str(n_clv),
            ],
            timeout=3600,
        )
        if "error" in peer:
            print(f"# lifetimes peer failed: {peer['error']}", flush=True)
            peer = {"tasks": {}, "error": peer["error"]}
    pt = peer.get("tasks", {})
    (VAR / ("peer-lifetimes-quick.json" if args.quick else "peer-lifetimes.json")).write_text(
        json.dumps(peer, indent=1)
    )

    def peer_median(task):
        if task not in pt:
            return None
        return statistics.median(pt[task]["seconds"]), statistics.median(pt[task]["cpu_seconds"])

    # ours on the peer's summary subset too, for a like-for-like row
    sub_tx = tx.iloc[:peer_rows]
    sub_s, _, _, sub_cpu = timed(
        lambda: summarize(sub_tx, unit="D", observation_end=observation_end), args.repeats
    )
    add("summary (transactions → RFM table)", n_tx, (summary_s, summary_cpu), target="≤ 5 s")
    add(
        "summary, peer-sized subset",
        peer_rows,
        (sub_s, sub_cpu),
        peer_median("summary"),
        "lifetimes summary_data",
        note="lifetimes on the same first rows",
    )
    add(
        "BG/NBD fit",
        freq.shape[0],
        (bg_s, bg_cpu),
        peer_median("bgnbd_plain"),
        "lifetimes plain",
        target="≤ 0.5 s",
    )
    add(
        "BG/NBD fit",
        freq.shape[0],
        (bg_s, bg_cpu),
        peer_median("bgnbd_best"),
        "lifetimes best (weights)",
        target="≥ 5× best",
    )
    add(
        "Pareto/NBD fit",
        freq.shape[0],
        (pn_s, pn_cpu),
        peer_median("pnbd_best"),
        "lifetimes best (weights)",
        target="≤ 3 s, ≥ 20× best",
    )
    if "pnbd_plain" in pt:
        n_pp = pt["pnbd_plain"]["n"]
        pp_s, _, _, pp_cpu = timed(
            lambda: ParetoNBD().fit(freq[:n_pp], rec[:n_pp], big_t[:n_pp]), args.repeats
        )
        add(
            "Pareto/NBD fit, peer-sized subset",
            n_pp,
            (pp_s, pp_cpu),
            peer_median("pnbd_plain"),
            "lifetimes plain",
        )
    sc_peer = peer_median("scoring")
    ours_pa_s, _, _, ours_pa_cpu = timed(
        lambda: (bg.p_alive(freq, rec, big_t), bg.expected_purchases(52.0, freq, rec, big_t)),
        args.repeats,
    )
    add(
        "scoring: P(alive) + E[purchases 52 w]",
        freq.shape[0],
        (ours_pa_s, ours_pa_cpu),
        sc_peer,
        "lifetimes",
    )
    add(
        "scoring: P(alive) + E[52 w] + 12-month CLV",
        freq.shape[0],
        (sc_s, sc_cpu),
        target="≤ 0.5 s",
    )
    add(
        "CLV 12 months (Gamma-Gamma × BG/NBD)",
        n_clv,
        (clv_small_s, clv_small_cpu),
        peer_median("clv"),
        "lifetimes",
    )

    # --- PyMC-Marketing
    if not args.no_pymc and not args.no_peers:
        pymc = run_peer(
            PYMC_PY,
            "_pymc_peer.py",
            ["--data", str(npz), "--rows", str(args.pymc_rows)],
            timeout=900,
        )
        if "error" in pymc:
            print(f"# pymc-marketing: {pymc['error']}", flush=True)
            results.append(
                {
                    "task": "BG/NBD fit (PyMC-Marketing MAP)",
                    "n": args.pymc_rows,
                    "ours": None,
                    "ours_cpu": None,
                    "peer": None,
                    "peer_cpu": None,
                    "peer_label": "pymc-marketing",
                    "target": "",
                    "note": pymc["error"],
                }
            )
        else:
            n_pm = pymc["n"]
            pm_s, _, _, pm_cpu = timed(
                lambda: BetaGeo().fit(freq[:n_pm], rec[:n_pm], big_t[:n_pm]), args.repeats
            )
            add(
                "BG/NBD fit, PyMC-sized subset",
                n_pm,
                (pm_s, pm_cpu),
                (statistics.median(pymc["seconds"]), statistics.median(pymc["cpu_seconds"])),
                f"pymc-marketing {pymc.get('version', '')} MAP",
                note=f"params {json.dumps({k: round(v, 4) for k, v in pymc['params'].items()})}",
            )

    # --- agreement
    agreement = []
    if "bgnbd_best" in pt:
        agreement.append(
            (
                "BG/NBD vs lifetimes (best)",
                rel_diff(bg.params_, pt["bgnbd_best"]["params"]),
                bg.params_,
                pt["bgnbd_best"]["params"],
            )
        )
    if "bgnbd_plain" in pt:
        agreement.append(
            (
                "BG/NBD vs lifetimes (plain)",
                rel_diff(bg.params_, pt["bgnbd_plain"]["params"]),
                bg.params_,
                pt["bgnbd_plain"]["params"],
            )
        )
    if "pnbd_best" in pt:
        agreement.append(
            (
                "Pareto/NBD vs lifetimes (best)",
                rel_diff(pn.params_, pt["pnbd_best"]["params"]),
                pn.params_,
                pt["pnbd_best"]["params"],
            )
        )
    if "clv" in pt:
        agreement.append(
            (
                "Gamma-Gamma vs lifetimes",
                rel_diff(gg.params_, pt["clv"]["gg_params"]),
                gg.params_,
                pt["clv"]["gg_params"],
            )
        )
        agreement.append(
            (
                "mean 12-month CLV vs lifetimes",
                abs(float(np.mean(clv_small)) - pt["clv"]["clv_mean"]) / pt["clv"]["clv_mean"],
                {"clv_mean": float(np.mean(clv_small))},
                {"clv_mean": pt["clv"]["clv_mean"]},
            )
        )
    if "scoring" in pt:
        agreement.append(
            (
                "mean P(alive) vs lifetimes",
                abs(float(np.mean(alive)) - pt["scoring"]["p_alive_mean"])
                / pt["scoring"]["p_alive_mean"],
                {"p_alive_mean": float(np.mean(alive))},
                {"p_alive_mean": pt["scoring"]["p_alive_mean"]},
            )
        )
    for name, diff, ours_p, peer_p in agreement:
        print(f"# agreement {name}: max relative difference {diff:.2e}", flush=True)
        print(f"#   ours {ours_p}\n#   peer {peer_p}", flush=True)

    truth_weeks = {"r": TRUE["r"], "alpha": TRUE["alpha"] / 7, "a": TRUE["a"], "b": TRUE["b"]}
    saved = {
        "info": info,
        "args": vars(args),
        "n_tx": n_tx,
        "n_customers": int(summary["frequency"].shape[0]),
        "results": results,
        "agreement": agreement,
        "peer": peer,
        "truth": truth_weeks,
        "fitted": bg.params_,
    }
    (VAR / ("results-quick.json" if args.quick else "results.json")).write_text(
        json.dumps(saved, indent=1, default=float)
    )
    report = render_saved(saved)
    print(report)
    if write_readme:
        write_engine_section(report)
        print(f"# wrote {ROOT / 'bench' / 'README.md'}")
    return 0


def fmt_s(x):
    if x is None:
        return "-"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def render_saved(saved: dict) -> str:
    return render(
        saved["info"],
        argparse.Namespace(**saved["args"]),
        saved["n_tx"],
        saved["n_customers"],
        saved["results"],
        [tuple(a) for a in saved["agreement"]],
        saved["peer"],
        saved["truth"],
        saved["fitted"],
    )


def render(info, args, n_tx, n_customers, results, agreement, peer, truth, fitted) -> str:
    lines = [
        "## Engine",
        "",
        "`.venv/bin/python bench/engine.py` (`--quick` for a smoke test); peers in throwaway venvs "
        "under `var/bench/` (`--setup-peers` creates them).",
        "",
        f"Machine: {info['nproc']} CPUs, {info['cpu']}, {info['ram']} RAM; Python {info['python']}, "
        f"numpy {info['numpy']}, pandas {info['pandas']}; BLAS {info['blas']}; "
        f"OPENBLAS_CORETYPE/L2_SIZE {info['openblas_env']} (ours and peers alike). Date {info['date']}. "
        f"Load average (1/5/15 min) at start {info['load_before']}, at end "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} — other jobs on a 2-CPU machine inflate "
        "every timing, ours and the peers' alike.",
        "",
        f"Data: `valuecrm.engine.simulate.simulate_bgnbd_transactions` at daily resolution, {n_tx:,} transactions of {n_customers:,} customers "
        f"(BG/NBD r={TRUE['r']}, α={TRUE['alpha']} days, a={TRUE['a']}, b={TRUE['b']}; Gamma-Gamma "
        f"p={TRUE['p']}, q={TRUE['q']}, v={TRUE['v']}; acquisition over one year, observed two). "
        f"Fits use the first {min(args.customers, n_customers):,} customers in weeks. "
        f"Ours: median of {args.repeats}; lifetimes {peer.get('lifetimes', '0.11.3')}: median of "
        f"{args.peer_repeats} (Pareto/NBD and CLV: 1 run).",
        "",
        "| task | n | ours (s) | ours CPU (s) | peer | peer (s) | peer CPU (s) | peer / ours "
        "(wall) | peer / ours (CPU) | target | note |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        ratio = f"{r['peer'] / r['ours']:.1f}×" if r["peer"] and r["ours"] else "-"
        cpu_ratio = (
            f"{r['peer_cpu'] / r['ours_cpu']:.1f}×"
            if r.get("peer_cpu") and r.get("ours_cpu")
            else "-"
        )
        lines.append(
            f"| {r['task']} | {r['n']:,} | {fmt_s(r['ours'])} | {fmt_s(r.get('ours_cpu'))} | "
            f"{r['peer_label'] or '-'} | {fmt_s(r['peer'])} | {fmt_s(r.get('peer_cpu'))} | "
            f"{ratio} | {cpu_ratio} | {r['target']} | {r['note']} |"
        )
    lines += [
        "",
        "Parameter agreement with lifetimes on the same rows (max relative difference):",
        "",
    ]
    lines += ["| comparison | max rel. diff | ours | lifetimes |", "|---|---:|---|---|"]
    for name, diff, ours_p, peer_p in agreement:
        o = ", ".join(f"{k}={v:.5g}" for k, v in ours_p.items())
        p = ", ".join(f"{k}={v:.5g}" for k, v in peer_p.items())
        lines.append(f"| {name} | {diff:.1e} | {o} | {p} |")
    if "error" in peer:
        lines += ["", f"lifetimes peer did not run: {peer['error']}"]
    unique = peer.get("tasks", {}).get("bgnbd_best", {}).get("unique_rows")
    lines += [
        "",
        "Notes:",
        "",
        "- *lifetimes best* = lifetimes given identical `(frequency, recency, T)` rows collapsed "
        "with a pandas `groupby` into `weights` (collapse time included). At daily resolution the "
        + (
            f"{min(args.customers, n_customers):,} customers have {unique:,} distinct rows, "
            if unique
            else "customers have many distinct rows, "
        )
        + "so collapsing helps lifetimes far less than on week-rounded data.",
        "- lifetimes' `summary_data_from_transaction_data` is timed on the first "
        f"{args.peer_summary_rows:,} rows (it is single-threaded pandas; ours, Ibis on DuckDB, "
        "is timed on those rows too and on all rows).",
        f"- lifetimes' plain Pareto/NBD fit runs on the first {args.pnbd_plain_rows:,} customers "
        "only (on all of them it takes many minutes); its collapsed-weights fit runs on all.",
        f"- PyMC-Marketing's BG/NBD is fitted by MAP on the first {args.pymc_rows:,} customers "
        "(model build and PyTensor compilation included — that is what a user waits for).",
        "- CLV: 12 months, 1 % monthly discount, lifetimes' month of 4.345 weeks; lifetimes "
        f"on the first {args.clv_peer_rows:,} customers (it loops over months in pandas).",
    ]
    lines += [
        "",
        "Recovery of the generating BG/NBD parameters (weeks; purchases floored to days, so "
        "same-day repeats merge): "
        + ", ".join(f"{k} true {truth[k]:.4g} fitted {fitted[k]:.4g}" for k in truth)
        + ".",
        "",
    ]
    return "\n".join(lines)


def write_engine_section(section: str) -> None:
    path = ROOT / "bench" / "README.md"
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nEach benchmark prints a table; its latest results live here.\n\n"
    )
    start = text.find("## Engine")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + "\n" + (text[nxt:] if nxt != -1 else "")
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    sys.exit(main())
