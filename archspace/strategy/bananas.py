"""Predictor-guided search with a neural ensemble — BANANAS: White, Neiswanger & Savani,
"BANANAS: Bayesian Optimization with Neural Architectures for Neural Architecture Search",
AAAI 2021; the same family as NPENAS (Wei et al., "NPENAS: Neural Predictor Guided Evolution
for Neural Architecture Search", IEEE TNNLS 2022).

An ensemble of small MLPs predicts the metric of a sample from its encoding; the ensemble's
mean and spread feed an acquisition (expected improvement by default; BANANAS's independent
Thompson sampling on request),
which ranks candidates made by changing one decision of the best samples so far, mutating them
further, or drawing at random (:mod:`archspace.strategy._surrogate` holds this loop, shared
with :class:`~archspace.strategy.GPBO`). On NAS-Bench-201-style cells the path encoding is used
beside the generic one (``encoding="auto"``).

Deviations from the paper, and why:

- **Incremental training.** BANANAS retrains its ensemble from scratch on every batch of 10
  queries (200 epochs). Here every new result warm-starts the ensemble for ``steps_per_fit``
  full-batch Adam steps (``initial_steps`` for the first fit), one query at a time: a few
  milliseconds per trial instead of seconds, and a model that never lags the data.
- **A smaller network** (two hidden layers of ``hidden`` units, 5 members, numpy instead of
  torch; see :mod:`archspace.strategy._mlp`): the paper's 10 layers of width 20 buy nothing at
  a few hundred training points. Past 256 results each step trains on 256 of them drawn at
  random, so a retraining costs the same however long the run.
- **Candidates**: the whole neighbourhood of the ``n_parents`` best (the paper mutates the 10
  best 100 times each) plus random samples.
- **State.** The checkpoint carries the ensemble's weights (exact float32 bytes in base64: about
  130 KB on NAS-Bench-201), so a resumed run continues from the same warm start.
- **Expected improvement by default.** On NAS-Bench-201 (20 seeds, 200 trials) Thompson
  sampling left 2 of 20 runs stuck beside the second-best cell for good, EI none: an ensemble
  that differs only by initial weights is overconfident away from its data, and EI's weight on
  the spread gets out sooner (see the README's strategies table).
- **Several asks in flight**: a proposed sample joins the training data at its predicted mean
  until its result comes (kriging believer); the paper proposes its batch of 10 by taking the
  top 10 of one acquisition ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspace.strategy._mlp import MLPEnsemble
from archspace.strategy._surrogate import SurrogateStrategy
from archspace.strategy.base import SampleFilter


class BANANAS(SurrogateStrategy):
    """Neural-ensemble predictor with Thompson sampling over mutated candidates (see the module docstring).

    Args:
        n_initial: uniform random samples before the predictor is used.
        members: networks in the ensemble.
        hidden: units in each of the two hidden layers.
        steps_per_fit: Adam steps per retraining (warm-started from the previous weights).
        initial_steps: Adam steps of the first training.
        encoding: ``"auto"``, ``"generic"``, ``"path"`` or ``"generic+path"``
            (see :class:`archspace.strategy._encoding.Encoder`).
        acquisition: ``"ei"`` (expected improvement over the best result, with the ensemble's
            spread as the uncertainty), ``"its"`` (independent Thompson sampling) or ``"mean"``.
        n_parents: the best samples whose neighbourhoods are candidates.
        n_random: uniform random candidates per ask (and as many mutations of the best samples).
        filter: see :class:`~archspace.strategy.Strategy`.

    Example:
        >>> from archspace.space import Categorical, SearchSpace
        >>> space = SearchSpace({f"x{i}": Categorical([0, 1, 2], f"x{i}") for i in range(3)})
        >>> strategy = BANANAS(n_initial=4)
        >>> strategy.setup(space, seed=0)
        >>> for _ in range(12):
        ...     sample = strategy.ask()
        ...     strategy.tell(sample, sum(sample.values()))
        >>> max(strategy._values)
        6.0
    """

    name = "bananas"

    def __init__(self, *, n_initial: int = 10, members: int = 5, hidden: int = 32, steps_per_fit: int = 20,
                 initial_steps: int = 300, encoding: str = "auto", acquisition: str = "ei", n_parents: int = 10,
                 n_random: int = 50, filter: SampleFilter | None = None) -> None:
        super().__init__(n_initial=n_initial, n_parents=n_parents, n_mutations=n_random, n_random=n_random,
                         max_neighbours=200, encoding=encoding, acquisition=acquisition, filter=filter)
        self.members = members
        self.hidden = hidden
        self.steps_per_fit = steps_per_fit
        self.initial_steps = initial_steps

    def _new_model(self) -> None:
        self._net = MLPEnsemble(self._encoder.dim, members=self.members, hidden=self.hidden, seed=self.rng.getrandbits(63))
        self._fits = 0

    def _fit(self, x: np.ndarray, y: np.ndarray, n_observed: int) -> None:
        self._net.fit(x, y, steps=self.initial_steps if self._fits == 0 else self.steps_per_fit,
                      seed=(self.seed or 0) * 1_000_003 + self._fits)
        self._fits += 1

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._net.predict(x).astype(np.float64)
        return out.mean(axis=0), out.std(axis=0)

    def _model_state(self) -> dict[str, Any]:
        return {"net": self._net.state(), "fits": self._fits}

    def _load_model_state(self, state: Mapping[str, Any]) -> None:
        self._net.load(state["net"])
        self._fits = int(state["fits"])

    def __repr__(self) -> str:
        return (f"BANANAS(n_initial={self.n_initial}, members={self.members}, hidden={self.hidden}, "
                f"encoding={self.encoding!r}, acquisition={self.acquisition!r})")


__all__ = ["BANANAS"]
