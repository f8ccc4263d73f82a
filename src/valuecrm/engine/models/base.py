"""Maximum-likelihood base class shared by every buy-till-you-die model.

A model subclasses :class:`MLEModel` and provides

* ``_param_names`` – the parameters in the paper's names and order;
* ``_data_names`` – the names of the data columns it is fitted on (used in errors);
* ``_negative_log_likelihood_and_gradient(log_params, data, weights)`` – the
  *weighted sum* of the negative log-likelihood over the (collapsed) rows and its
  gradient with respect to the **log** parameters;
* a public ``fit(...)`` that validates its inputs and calls :meth:`MLEModel._fit`.

Everything else – collapsing identical rows into weights, the L2 penalty, the
optimiser, the convergence check, standard errors from the observed information
matrix, ``summary()`` – lives here, so all models behave alike.

The estimator contract follows scikit-learn: ``__init__`` stores
hyper-parameters only, ``fit`` returns ``self`` and learned attributes end in ``_``.
"""

from __future__ import annotations

import abc
import contextlib
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize

__all__ = [
    "MLEModel",
    "NotFittedError",
    "as_float_array",
    "check_integral",
    "check_rfm",
    "collapse_rows",
    "unique_rows",
]


class NotFittedError(ValueError, AttributeError):
    """Raised when a prediction is asked of a model that has no parameters yet."""


# --------------------------------------------------------------------------- input checks


def as_float_array(name: str, values: Any, *, allow_negative: bool = False) -> np.ndarray:
    """Return ``values`` as a 1-D float array or raise a ``ValueError`` naming ``name``."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    array = np.atleast_1d(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} contains NaN or infinite values (first at position {bad})")
    if not allow_negative and array.size and array.min() < 0:
        bad = int(np.flatnonzero(array < 0)[0])
        raise ValueError(f"{name} must be non-negative (position {bad} is {array[bad]!r})")
    return array


def check_integral(name: str, array: np.ndarray) -> None:
    """Raise ``ValueError`` when ``array`` holds non-integer counts."""
    if array.size and not np.all(array == np.round(array)):
        bad = int(np.flatnonzero(array != np.round(array))[0])
        raise ValueError(f"{name} must hold whole numbers (position {bad} is {array[bad]!r})")


def check_rfm(
    frequency: Any, recency: Any, T: Any, *, model: str = "model"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a frequency/recency/T triple and return it as float arrays.

    Checks: same length, non-empty, finite, non-negative, integral frequency,
    ``recency <= T``, and ``recency == 0`` whenever ``frequency == 0``.
    """
    x = as_float_array("frequency", frequency)
    t_x = as_float_array("recency", recency)
    t_obs = as_float_array("T", T)
    if not (x.size == t_x.size == t_obs.size):
        raise ValueError(
            f"{model}: frequency, recency and T must have the same length "
            f"(got {x.size}, {t_x.size}, {t_obs.size})"
        )
    if x.size == 0:
        raise ValueError(f"{model}: no customers to fit (empty input)")
    check_integral("frequency", x)
    # A tiny tolerance: summaries rounded to 2 decimals can put recency a hair above T.
    too_late = t_x > t_obs * (1 + 1e-9) + 1e-9
    if np.any(too_late):
        bad = int(np.flatnonzero(too_late)[0])
        raise ValueError(
            f"{model}: recency must not exceed T (position {bad}: recency={t_x[bad]!r}, "
            f"T={t_obs[bad]!r})"
        )
    bad_zero = (x == 0) & (t_x > 0)
    if np.any(bad_zero):
        bad = int(np.flatnonzero(bad_zero)[0])
        raise ValueError(
            f"{model}: recency must be 0 when frequency is 0 (position {bad}: recency={t_x[bad]!r})"
        )
    return x, np.minimum(t_x, t_obs), t_obs


def unique_rows(columns: Sequence[np.ndarray]) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Distinct rows of equally long columns and, per input row, its distinct row's index.

    Hash-based (``pandas.factorize``) so it stays O(n) on millions of rows.
    """
    n = columns[0].size
    codes = np.zeros(n, dtype=np.int64)
    size = 1
    for column in columns:
        column_codes, uniques = pd.factorize(column, sort=False)
        cardinality = max(len(uniques), 1)
        if size * cardinality >= 2**62:  # would overflow: re-compress the key so far
            codes, seen = pd.factorize(codes, sort=False)
            size = max(len(seen), 1)
        codes = codes * cardinality + column_codes
        size *= cardinality
    group = pd.factorize(codes, sort=False)[0]
    # factorize numbers groups in order of first appearance, so a group's first row
    # is where the running maximum of the codes steps up.
    first = np.flatnonzero(np.diff(np.maximum.accumulate(group), prepend=-1) > 0)
    return tuple(np.ascontiguousarray(column[first]) for column in columns), group


def collapse_rows(
    columns: Sequence[np.ndarray], weights: np.ndarray | None = None
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Merge identical rows into one row carrying the summed weight.

    Real customer bases repeat the same (frequency, recency, T) rows many times
    (all one-time buyers of a given cohort, for instance), so the likelihood is
    evaluated on far fewer rows.

    Returns
    -------
    unique_columns, unique_weights
    """
    unique_columns, group = unique_rows(columns)
    weights = np.ones(group.size) if weights is None else weights
    unique_weights = np.bincount(group, weights=weights, minlength=unique_columns[0].size)
    return unique_columns, unique_weights


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Keep BLAS to one thread while optimising.

    The work is element-wise numpy plus L-BFGS-B's tiny BLAS calls; OpenBLAS
    worker threads only busy-wait between those calls, which on a loaded machine
    doubles the CPU time of a fit. threadpoolctl ships with scikit-learn.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional speed-up only
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# --------------------------------------------------------------------------- the base class


class MLEModel(abc.ABC):
    """Base class for models fitted by maximum likelihood on log-parameters.

    Parameters
    ----------
    penalizer_coef : float, default 0.0
        L2 penalty ``penalizer_coef * sum(theta**2)`` added to the *mean* negative
        log-likelihood (the lifetimes convention), shrinking parameters towards 0.
    tol : float, default 1e-9
        Projected-gradient tolerance of L-BFGS-B on the mean negative log-likelihood.
    maxiter : int, default 1000
        Maximum optimiser iterations.
    initial_params : mapping, optional
        Starting values in the paper's names; defaults come from the model.
    collapse : bool, default True
        Merge identical data rows into weights before fitting (same result, faster).

    Attributes
    ----------
    params_ : dict[str, float]
        Maximum-likelihood estimates, in the paper's names.
    log_likelihood_ : float
        Full (weighted) log-likelihood at ``params_`` in the papers' form, without
        the penalty.
    standard_errors_ : dict[str, float]
        Square roots of the diagonal of the inverse observed information matrix
        (Hessian of the negative log-likelihood in the natural parameters).
    converged_ : bool
    n_iter_ : int
    fit_seconds_ : float
    n_ : float
        Number of customers (sum of weights).
    """

    _param_names: ClassVar[tuple[str, ...]] = ()
    _data_names: ClassVar[tuple[str, ...]] = ()
    _default_initial: ClassVar[Mapping[str, float]] = {}

    def __init__(
        self,
        penalizer_coef: float = 0.0,
        tol: float = 1e-9,
        maxiter: int = 1000,
        initial_params: Mapping[str, float] | None = None,
        collapse: bool = True,
    ) -> None:
        self.penalizer_coef = penalizer_coef
        self.tol = tol
        self.maxiter = maxiter
        self.initial_params = initial_params
        self.collapse = collapse

    # ------------------------------------------------------------------ for subclasses

    @property
    def model_name(self) -> str:
        return type(self).__name__

    @abc.abstractmethod
    def _negative_log_likelihood_and_gradient(
        self, log_params: np.ndarray, data: tuple[np.ndarray, ...], weights: np.ndarray
    ) -> tuple[float, np.ndarray]:
        """Weighted-sum negative log-likelihood and its gradient w.r.t. log-params."""

    def _prepare(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> tuple[np.ndarray, ...]:
        """Hook to precompute data-only quantities once per fit (default: none)."""
        return data

    def _initial_log_params(self, data: tuple[np.ndarray, ...], weights: np.ndarray) -> np.ndarray:
        start = dict.fromkeys(self._param_names, 1.0)
        start.update(self._default_initial)
        if self.initial_params is not None:
            unknown = set(self.initial_params) - set(self._param_names)
            if unknown:
                raise ValueError(
                    f"{self.model_name}: unknown initial parameter(s) {sorted(unknown)}; "
                    f"expected {list(self._param_names)}"
                )
            start.update(self.initial_params)
        values = np.array([float(start[name]) for name in self._param_names])
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{self.model_name}: initial parameters must be positive: {start}")
        return np.log(values)

    # ------------------------------------------------------------------ fitting

    def _fit(self, columns: Sequence[np.ndarray], weights: Any = None) -> MLEModel:
        """Fit on validated data columns; subclasses call this from ``fit``."""
        started = time.perf_counter()
        columns = tuple(np.asarray(column, dtype=float) for column in columns)
        n_rows = columns[0].size
        if n_rows == 0:
            raise ValueError(f"{self.model_name}: no customers to fit (empty input)")
        if weights is None:
            w = np.ones(n_rows)
        else:
            w = as_float_array("weights", weights)
            if w.size != n_rows:
                raise ValueError(
                    f"{self.model_name}: weights has length {w.size}, expected {n_rows}"
                )
        if w.sum() <= 0:
            raise ValueError(f"{self.model_name}: weights must sum to a positive number")
        if self.penalizer_coef < 0:
            raise ValueError(f"{self.model_name}: penalizer_coef must be >= 0")

        keep = w > 0
        if not keep.all():
            columns = tuple(column[keep] for column in columns)
            w = w[keep]
        if self.collapse:
            columns, w = collapse_rows(columns, w)
        data = self._prepare(columns, w)
        total_weight = float(w.sum())
        penalty = float(self.penalizer_coef)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            nll, grad = self._negative_log_likelihood_and_gradient(log_params, data, w)
            params = np.exp(log_params)
            value = nll / total_weight + penalty * float(np.sum(params**2))
            gradient = grad / total_weight + 2.0 * penalty * params**2
            if not np.isfinite(value):  # steer the line search back into the valid region
                return 1e300, np.zeros_like(log_params)
            return value, gradient

        x0 = self._initial_log_params(data, w)
        with np.errstate(all="ignore"), _single_threaded_blas():
            result = optimize.minimize(
                objective,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(-30.0, 30.0)] * x0.size,  # e^±30 is far beyond any sane value
                options={"maxiter": self.maxiter, "gtol": self.tol, "ftol": 1e-15},
            )
            final_value, final_grad = objective(result.x)
        # L-BFGS-B often stops with "ABNORMAL_TERMINATION_IN_LNSRCH" at the optimum
        # because the objective cannot decrease further in float64; judge by gradient.
        converged = bool(
            np.isfinite(final_value)
            and final_value < 1e299
            and (result.success or np.max(np.abs(final_grad)) < 1e-4)
        )
        self.n_iter_ = int(result.nit)
        self.converged_ = converged
        if not converged:
            raise ValueError(
                f"{self.model_name} did not converge after {result.nit} iterations "
                f"({result.message}); try other initial_params, a penalizer_coef > 0, "
                f"or check the data"
            )

        log_params = result.x
        nll, _ = self._negative_log_likelihood_and_gradient(log_params, data, w)
        self.params_ = dict(zip(self._param_names, np.exp(log_params).tolist(), strict=True))
        self.log_likelihood_ = -float(nll)
        self.n_ = total_weight
        with _single_threaded_blas():
            self.standard_errors_ = self._standard_errors(log_params, data, w)
        if any(p > np.exp(29) or p < np.exp(-29) for p in self.params_.values()):
            warnings.warn(
                f"{self.model_name}: a parameter reached its bound ({self.params_}); the "
                f"likelihood is flat in that direction",
                RuntimeWarning,
                stacklevel=3,
            )
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _standard_errors(
        self, log_params: np.ndarray, data: tuple[np.ndarray, ...], weights: np.ndarray
    ) -> dict[str, float]:
        """sqrt(diag(H^-1)), H = Hessian of the negative LL in the natural parameters.

        H is obtained by central differences of the analytic gradient (exact to
        ~1e-8 relative), taken in log space and mapped back:
        ``H_nat = D^-1 (H_log - diag(g_log)) D^-1`` with ``D = diag(theta)``.
        """
        k = log_params.size
        step = 1e-4
        h_log = np.empty((k, k))
        with np.errstate(all="ignore"):
            for i in range(k):
                shift = np.zeros(k)
                shift[i] = step
                _, g_plus = self._negative_log_likelihood_and_gradient(
                    log_params + shift, data, weights
                )
                _, g_minus = self._negative_log_likelihood_and_gradient(
                    log_params - shift, data, weights
                )
                h_log[i] = (g_plus - g_minus) / (2 * step)
            _, g_log = self._negative_log_likelihood_and_gradient(log_params, data, weights)
        h_log = (h_log + h_log.T) / 2
        theta = np.exp(log_params)
        h_nat = (h_log - np.diag(g_log)) / np.outer(theta, theta)
        try:
            covariance = np.linalg.inv(h_nat)
            variances = np.diag(covariance)
        except np.linalg.LinAlgError:
            variances = np.full(k, np.nan)
        se = np.sqrt(np.where(variances > 0, variances, np.nan))
        return dict(zip(self._param_names, se.tolist(), strict=True))

    # ------------------------------------------------------------------ results

    @classmethod
    def from_params(cls, **params: float) -> MLEModel:
        """A model with known parameters (e.g. from a saved fit) ready to predict."""
        missing = set(cls._param_names) - set(params)
        unknown = set(params) - set(cls._param_names)
        if missing or unknown:
            raise ValueError(
                f"{cls.__name__}.from_params needs exactly {list(cls._param_names)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        values = {name: float(params[name]) for name in cls._param_names}
        if any(not np.isfinite(v) or v <= 0 for v in values.values()):
            raise ValueError(f"{cls.__name__}: parameters must be positive and finite: {values}")
        model = cls()
        model.params_ = values
        return model

    def _check_fitted(self) -> dict[str, float]:
        params = getattr(self, "params_", None)
        if params is None:
            raise NotFittedError(
                f"{self.model_name} has no parameters yet: call fit() or from_params() first"
            )
        return params

    def summary(self) -> pd.DataFrame:
        """Table of estimates with standard errors and 95 % intervals.

        Every parameter is positive and was estimated on the log scale, so the
        interval is the Wald interval of log θ mapped back (delta method:
        se(log θ) ≈ se(θ) / θ). It never crosses zero, unlike θ ± 1.96·se.
        """
        params = self._check_fitted()
        se = getattr(self, "standard_errors_", dict.fromkeys(params, np.nan))
        estimate = np.array([params[name] for name in self._param_names])
        errors = np.array([se[name] for name in self._param_names])
        return pd.DataFrame(
            {
                "param": list(self._param_names),
                "estimate": estimate,
                "se": errors,
                "lower95": estimate * np.exp(-1.959964 * errors / estimate),
                "upper95": estimate * np.exp(1.959964 * errors / estimate),
            }
        )

    def __repr__(self) -> str:
        params = getattr(self, "params_", None)
        if params is None:
            return f"{self.model_name}(penalizer_coef={self.penalizer_coef})"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
        return f"{self.model_name}({shown})"
