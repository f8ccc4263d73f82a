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
from .clv import customer_equity, customer_lifetime_value, simple_clv
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
from .simulate import simulate_bgnbd_summary, simulate_bgnbd_transactions
from .summary import summarize, to_ibis_table, unit_days

__all__ = [
    "customer_equity",
    "customer_lifetime_value",
    "simple_clv",
    "simulate_bgnbd_summary",
    "simulate_bgnbd_transactions",
    "summarize",
    "to_ibis_table",
    "unit_days",
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
