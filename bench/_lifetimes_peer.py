"""Peer side of bench/engine.py: runs inside the throwaway lifetimes 0.11.3 venv.

Reads the same arrays the engine bench uses (an .npz written by bench/engine.py),
times lifetimes on them and prints one JSON object on stdout. Not part of the
product; never imported by it.

Tasks (``--tasks``, comma separated):
  summary      summary_data_from_transaction_data on the first --summary-rows rows
  bgnbd_plain  BetaGeoFitter.fit on every customer row
  bgnbd_best   BetaGeoFitter.fit on identical rows collapsed into weights
  pnbd_best    ParetoNBDFitter.fit on collapsed rows (weights)
  pnbd_plain   ParetoNBDFitter.fit on the first --pnbd-plain-rows customers
  scoring      P(alive) + expected purchases (BG/NBD) for every customer, and
               Gamma-Gamma CLV for the first --clv-rows customers
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def _timed(fn, repeats):
    """Wall-clock and CPU (process) seconds of each run, and the last result."""
    seconds, cpu, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return seconds, result, cpu


def _collapse(frame):
    grouped = frame.groupby(["frequency", "recency", "T"]).size().rename("weights").reset_index()
    return grouped


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--summary-rows", type=int, default=1_000_000)
    parser.add_argument("--pnbd-plain-rows", type=int, default=100_000)
    parser.add_argument("--clv-rows", type=int, default=100_000)
    args = parser.parse_args()

    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
    from lifetimes.utils import summary_data_from_transaction_data

    data = np.load(args.data)
    frame = pd.DataFrame(
        {"frequency": data["frequency"], "recency": data["recency"], "T": data["T"]}
    )
    out: dict = {"lifetimes": lifetimes.__version__, "numpy": np.__version__, "tasks": {}}
    tasks = args.tasks.split(",")

    def params_of(fitter):
        return {k: float(v) for k, v in fitter.params_.items()}

    if "summary" in tasks:
        n = min(args.summary_rows, data["tx_customer"].shape[0])
        tx = pd.DataFrame(
            {
                "customer_id": data["tx_customer"][:n],
                "date": pd.Timestamp(str(data["start_date"]))
                + pd.to_timedelta(data["tx_day"][:n], unit="D"),
                "amount": data["tx_amount"][:n],
            }
        )
        end = pd.Timestamp(str(data["end_date"]))
        seconds, res, cpu = _timed(
            lambda: summary_data_from_transaction_data(
                tx,
                "customer_id",
                "date",
                monetary_value_col="amount",
                observation_period_end=end,
                freq="D",
            ),
            args.repeats,
        )
        out["tasks"]["summary"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "rows": n,
            "customers": int(len(res)),
        }

    if "bgnbd_plain" in tasks:
        seconds, fitter, cpu = _timed(
            lambda: BetaGeoFitter().fit(frame["frequency"], frame["recency"], frame["T"]),
            args.repeats,
        )
        out["tasks"]["bgnbd_plain"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "n": len(frame),
            "params": params_of(fitter),
        }

    bg_best = None
    if "bgnbd_best" in tasks or "scoring" in tasks:

        def fit_best():
            c = _collapse(frame)
            return BetaGeoFitter().fit(c["frequency"], c["recency"], c["T"], weights=c["weights"])

        seconds, bg_best, cpu = _timed(fit_best, args.repeats)
        out["tasks"]["bgnbd_best"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "n": len(frame),
            "unique_rows": int(len(_collapse(frame))),
            "params": params_of(bg_best),
        }

    if "pnbd_best" in tasks:

        def fit_pnbd_best():
            c = _collapse(frame)
            return ParetoNBDFitter().fit(c["frequency"], c["recency"], c["T"], weights=c["weights"])

        seconds, fitter, cpu = _timed(fit_pnbd_best, 1)
        out["tasks"]["pnbd_best"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "n": len(frame),
            "params": params_of(fitter),
        }

    if "pnbd_plain" in tasks:
        sub = frame.iloc[: args.pnbd_plain_rows]
        seconds, fitter, cpu = _timed(
            lambda: ParetoNBDFitter().fit(sub["frequency"], sub["recency"], sub["T"]), 1
        )
        out["tasks"]["pnbd_plain"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "n": len(sub),
            "params": params_of(fitter),
        }

    if "scoring" in tasks:
        f, r, t = frame["frequency"], frame["recency"], frame["T"]

        def score():
            alive = bg_best.conditional_probability_alive(f, r, t)
            expected = bg_best.conditional_expected_number_of_purchases_up_to_time(52.0, f, r, t)
            return alive, expected

        seconds, (alive, expected), cpu = _timed(score, args.repeats)
        out["tasks"]["scoring"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "n": len(frame),
            "p_alive_mean": float(np.mean(alive)),
            "expected_52_mean": float(np.mean(expected)),
        }
        repeaters = data["monetary"] > 0
        gg_frame = pd.DataFrame(
            {"frequency": data["frequency"][repeaters], "monetary": data["monetary"][repeaters]}
        )
        gg = GammaGammaFitter().fit(gg_frame["frequency"], gg_frame["monetary"])
        n_clv = min(args.clv_rows, len(frame))
        sub = frame.iloc[:n_clv]
        money = pd.Series(data["monetary"][:n_clv])

        def clv():
            return gg.customer_lifetime_value(
                bg_best,
                sub["frequency"],
                sub["recency"],
                sub["T"],
                money,
                time=12,
                discount_rate=0.01,
                freq="W",
            )

        seconds, values, cpu = _timed(clv, 1)
        out["tasks"]["clv"] = {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "n": n_clv,
            "gg_params": params_of(gg),
            "clv_mean": float(np.mean(values)),
        }

    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
