"""Probabilistic customer-base models, one per module, and the registry of them.

``MODELS`` maps the short name used by the CLI and the CRM (``"bgnbd"``) to the
model class; every class follows :class:`~valuecrm.engine.models.base.MLEModel`.
"""

from .base import MLEModel, NotFittedError
from .bgbb import BetaGeoBetaBinom
from .bgnbd import BetaGeo
from .gammagamma import GammaGamma
from .mbgnbd import ModifiedBetaGeo
from .paretonbd import ParetoNBD
from .sbg import ShiftedBetaGeometric

MODELS: dict[str, type[MLEModel]] = {
    "bgnbd": BetaGeo,
    "mbgnbd": ModifiedBetaGeo,
    "gammagamma": GammaGamma,
    "paretonbd": ParetoNBD,
    "bgbb": BetaGeoBetaBinom,
    "sbg": ShiftedBetaGeometric,
}

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
]
