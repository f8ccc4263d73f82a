"""ValueCRM's value engine: a pure library (numpy, scipy, pandas/pyarrow, ibis, scikit-learn).

Tables in, arrays and frames out. Nothing here imports Django or any other
valuecrm package, so the engine works from a notebook, the CLI or a worker alike.
"""

from .churn import (
    ChurnModel,
    build_churn_features,
    churn_labels,
    evaluate_churn,
    predict_churn_risk,
)
from .clusters import cluster_customers
from .evaluation import evaluate_holdout, select_model, tracking_data
from .models import (
    MODELS,
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    MLEModel,
    ModifiedBetaGeo,
    NotFittedError,
    ParetoNBD,
    ShiftedBetaGeometric,
)
from .rfm import SEGMENTS, rfm_scores, rfm_segment

__all__ = [
    "MODELS",
    "BetaGeo",
    "BetaGeoBetaBinom",
    "GammaGamma",
    "MLEModel",
    "ModifiedBetaGeo",
    "NotFittedError",
    "ParetoNBD",
    "ShiftedBetaGeometric",
    "SEGMENTS",
    "ChurnModel",
    "build_churn_features",
    "churn_labels",
    "evaluate_churn",
    "predict_churn_risk",
    "cluster_customers",
    "evaluate_holdout",
    "select_model",
    "tracking_data",
    "rfm_scores",
    "rfm_segment",
]
