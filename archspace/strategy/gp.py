"""Bayesian optimisation with a Gaussian process over categorical and conditional decisions.

The model is a GP whose kernel counts the decisions two samples disagree on (the exponentiated
Hamming kernel of categorical BO: COMBO, Oh et al., NeurIPS 2019; CoCaBO, Ru et al., ICML 2020),
on the masked one-hot encoding, with the path encoding of NAS-Bench-201-style cells beside it
(as BANANAS found it helps; see :mod:`archspace.strategy._encoding`). Hyperparameters maximise
the marginal likelihood over a fixed grid (:mod:`archspace.strategy._gp`), re-chosen every
``refit_every`` results; between those the GP is only conditioned on the new data (milliseconds).
The acquisition — expected improvement by default — ranks candidates made by changing one
decision of the best samples so far, mutating them further, and drawing at random (the loop of
:mod:`archspace.strategy._surrogate`, shared with :class:`~archspace.strategy.BANANAS`): the
acquisition optimiser that works on NAS spaces, where gradients do not exist.

Several asks in flight: a proposed sample joins the data at its posterior mean until its result
comes (kriging believer, Ginsbourger et al. 2010), which removes its uncertainty, so EI moves on.

Why not a library GP: Optuna's ``GPSampler`` (measured beside this one in
``benchmarks/strategies.py``, see the README) relaxes categorical decisions to one-hot
coordinates and optimises the acquisition over them with gradient steps, which on
NAS-Bench-201 costs more per trial and finds less than mutating the best samples; BoTorch would
add a dependency for what is here 100 lines of numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspace.strategy._gp import CategoricalGP
from archspace.strategy._surrogate import SurrogateStrategy
from archspace.strategy.base import SampleFilter


class GPBO(SurrogateStrategy):
    """GP Bayesian optimisation with a categorical kernel (see the module docstring).

    Args:
        n_initial: uniform random samples before the GP is used.
        refit_every: results between two choices of the kernel's hyperparameters.
        encoding: ``"auto"``, ``"generic"``, ``"path"`` or ``"generic+path"``
            (see :class:`archspace.strategy._encoding.Encoder`).
        acquisition: ``"ei"`` (expected improvement), ``"its"`` (Thompson draws from each
            candidate's marginal) or ``"mean"``.
        n_parents: the best samples whose neighbourhoods are candidates.
        n_random: uniform random candidates per ask (and as many mutations of the best samples).
        filter: see :class:`~archspace.strategy.Strategy`.

    Example:
        >>> from archspace.space import Categorical, SearchSpace
        >>> space = SearchSpace({f"x{i}": Categorical([0, 1, 2], f"x{i}") for i in range(3)})
        >>> strategy = GPBO(n_initial=4)
        >>> strategy.setup(space, seed=0)
        >>> for _ in range(12):
        ...     sample = strategy.ask()
        ...     strategy.tell(sample, sum(sample.values()))
        >>> max(strategy._values)
        6.0
    """

    name = "gp"

    def __init__(self, *, n_initial: int = 10, refit_every: int = 5, encoding: str = "auto",
                 acquisition: str = "ei", n_parents: int = 10, n_random: int = 50,
                 filter: SampleFilter | None = None) -> None:
        super().__init__(n_initial=n_initial, n_parents=n_parents, n_mutations=n_random, n_random=n_random,
                         max_neighbours=200, encoding=encoding, acquisition=acquisition, filter=filter)
        self.refit_every = refit_every

    def _new_model(self) -> None:
        self._gp = CategoricalGP(decisions=len(self.space))
        self._selected_at = -1  # results when the hyperparameters were last chosen

    def _fit(self, x: np.ndarray, y: np.ndarray, n_observed: int) -> None:
        if self._selected_at < 0 or n_observed - self._selected_at >= self.refit_every:
            self._gp.select(x[:n_observed], y[:n_observed])
            self._selected_at = n_observed
        self._gp.condition(x, y)

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._gp.predict(x)

    def _model_state(self) -> dict[str, Any]:
        return {"lengthscale": self._gp.lengthscale, "noise": self._gp.noise, "signal": self._gp.signal,
                "selected_at": self._selected_at}

    def _load_model_state(self, state: Mapping[str, Any]) -> None:
        self._gp.lengthscale = float(state["lengthscale"])
        self._gp.noise = float(state["noise"])
        self._gp.signal = float(state["signal"])
        self._selected_at = int(state["selected_at"])
        self._fitted = None  # the GP's factorisation is not saved: the next ask conditions it again

    def __repr__(self) -> str:
        return f"GPBO(n_initial={self.n_initial}, encoding={self.encoding!r}, acquisition={self.acquisition!r})"


__all__ = ["GPBO"]
