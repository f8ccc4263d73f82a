"""PyMC-Marketing side of bench/engine.py: runs inside var/bench/pymc-venv.

Fits PyMC-Marketing's BG/NBD model by MAP on the first --rows customers of the
bench's .npz file and prints JSON (seconds, params). Not part of the product.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    import pymc_marketing
    from pymc_marketing.clv import BetaGeoModel

    data = np.load(args.data)
    n = min(args.rows, data["frequency"].shape[0])
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "frequency": data["frequency"][:n],
            "recency": data["recency"][:n],
            "T": data["T"][:n],
        }
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the JSON answer
        model = BetaGeoModel(data=frame)
        model.fit(method="map")
    seconds = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    post = model.idata.posterior
    params = {k: float(np.asarray(post[k]).ravel()[0]) for k in ("r", "alpha", "a", "b")}
    json.dump(
        {
            "version": pymc_marketing.__version__,
            "n": n,
            "seconds": [seconds],
            "cpu_seconds": [cpu],
            "params": params,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
