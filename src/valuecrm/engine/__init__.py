"""ValueCRM's value engine: a pure library (numpy, scipy, pandas/pyarrow, ibis, scikit-learn).

Tables in, arrays and frames out. Nothing here imports Django or any other
valuecrm package, so the engine works from a notebook, the CLI or a worker alike.
"""

from .models import MODELS, BetaGeo, GammaGamma, MLEModel, ModifiedBetaGeo, NotFittedError

__all__ = [
    "MODELS",
    "BetaGeo",
    "GammaGamma",
    "MLEModel",
    "ModifiedBetaGeo",
    "NotFittedError",
]
