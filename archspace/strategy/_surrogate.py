"""The loop shared by strategies that search with a model of the metric (BANANAS, GP-BO).

Each ask: refit the model if the data changed (results told since, or samples asked while
others are still running), draw candidates — every neighbour (one decision changed) of the
best samples so far, mutations of them at a larger distance, and uniform random samples —,
score them with an acquisition on the model's mean and uncertainty, and propose the best one
not tried yet that the filters accept. The first ``n_initial`` samples are uniform random.

Why candidates this way and not an optimiser of the acquisition: BANANAS (White et al., AAAI
2021) found that mutating the best architectures is the acquisition optimiser that works on NAS
spaces, which are categorical and conditional; the random candidates keep the search from
settling too early.

Several asks in flight (concurrency > 1): a proposed sample is *believed* to score the model's
mean until its result arrives (the "kriging believer" of Ginsbourger et al., 2010): it joins the
training data with that value, so the model's uncertainty around it shrinks and the next ask
goes elsewhere; no sample is proposed twice (``dedup`` is always on). A failed trial leaves the
data (the model never hears of it); a trial stopped early by a scheduler (``tell(...,
partial=True)``) joins with its partial value, below what it would have reached, as for the
other strategies.

Targets are scores (larger is better), clipped from below at their 10th percentile and
standardised before fitting, so that a few broken architectures (10% accuracy on NAS-Bench-201)
do not flatten the model's view of the good region.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from archspace.errors import ArchspaceError
from archspace.space.samples import Sample, fingerprint
from archspace.strategy._encoding import Encoder
from archspace.strategy._sampling import mutate, neighbours
from archspace.strategy.base import SampleFilter, Strategy

ACQUISITIONS = ("its", "ei", "mean")
_ENUMERATE_BELOW = 200_000


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))


def acquisition_values(kind: str, mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator) -> np.ndarray:
    """The acquisition of candidates with predicted ``mean`` and ``std`` (larger is better).

    ``"its"``: independent Thompson sampling (BANANAS): one draw from N(mean, std²) per
    candidate. ``"ei"``: expected improvement over ``best``. ``"mean"``: the mean alone (pure
    exploitation, for tests and ablations).
    """
    if kind == "its":
        return mean + std * rng.standard_normal(len(mean))
    if kind == "ei":
        std = np.maximum(std, 1e-9)
        z = (mean - best) / std
        return (mean - best) * _normal_cdf(z) + std * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return mean.copy()


class SurrogateStrategy(Strategy):
    """Base of the model-guided strategies (see the module docstring); subclasses give the model.

    Args:
        n_initial: uniform random samples before the model is used.
        n_parents: the best samples whose neighbourhoods become candidates.
        n_mutations: further candidates mutated from the parents (each decision changes with
            probability 1/2 of the active ones' share, at least one).
        n_random: uniform random candidates.
        max_neighbours: a cap on one parent's neighbourhood (a random subset beyond it).
        encoding: see :class:`~archspace.strategy._encoding.Encoder` (``"auto"``: the path encoding
            beside the generic one on cell spaces).
        acquisition: ``"its"``, ``"ei"`` or ``"mean"`` (see :func:`acquisition_values`).
        filter: see :class:`~archspace.strategy.Strategy`.
    """

    dedup = True

    def __init__(self, *, n_initial: int, n_parents: int, n_mutations: int, n_random: int, max_neighbours: int,
                 encoding: str, acquisition: str, filter: SampleFilter | None) -> None:
        super().__init__(filter=filter)
        if acquisition not in ACQUISITIONS:
            raise ArchspaceError(f"acquisition must be one of {list(ACQUISITIONS)}, got {acquisition!r}")
        if n_initial < 1 or n_parents < 1:
            raise ArchspaceError(f"need n_initial >= 1 and n_parents >= 1, got {n_initial} and {n_parents}")
        self.n_initial = n_initial
        self.n_parents = n_parents
        self.n_mutations = n_mutations
        self.n_random = n_random
        self.max_neighbours = max_neighbours
        self.encoding = encoding
        self.acquisition = acquisition

    # Model hooks -----------------------------------------------------------------------------------
    def _new_model(self) -> None:
        """Build an untrained model for ``self._encoder.dim`` inputs (called by setup)."""
        raise NotImplementedError

    def _fit(self, x: np.ndarray, y: np.ndarray, n_observed: int) -> None:
        """Fit the model to standardised targets ``y`` (the first ``n_observed`` rows are results,
        the rest believed values of samples in flight)."""
        raise NotImplementedError

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and standard deviation (standardised units) of each row."""
        raise NotImplementedError

    def _model_state(self) -> dict[str, Any]:
        return {}

    def _load_model_state(self, state: Mapping[str, Any]) -> None:
        pass

    # Run state -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        self._encoder = Encoder(self.space, self.encoding)
        self._samples: list[Sample] = []  # told, with a value
        self._values: list[float] = []  # their scores (larger is better)
        self._pending: dict[str, list[Any]] = {}  # fingerprint -> [sample, believed score or None]
        self._fitted: list[Any] | None = None  # the data key of the last fit
        self._scale = (0.0, 1.0, 0.0)  # (centre, spread, floor) of the target transform, set by each fit
        self._ranked: list[tuple[Sample, float]] | None = None  # this ask's candidates, best first
        self._new_model()

    def ask(self) -> Sample | None:
        self._ranked = None  # candidates are ranked afresh for each ask; kept across filter rejections
        return super().ask()

    def _random_unseen(self) -> Sample | None:
        for _ in range(100):
            sample = self.space.random_sample(self.rng)
            if fingerprint(sample) not in self._seen:
                return sample
        if self.space_size is None or self.space_size > _ENUMERATE_BELOW:
            return None
        unseen = [s for s in self.space.enumerate() if fingerprint(s) not in self._seen]
        return self.rng.choice(unseen) if unseen else None

    def _take(self, sample: Sample, believed: float | None) -> Sample:
        key = fingerprint(sample)
        self._seen.add(key)
        self._pending[key] = [sample, believed]
        return sample

    def _propose(self) -> Sample | None:
        if self.space_size is not None and len(self._seen) >= self.space_size:
            return None
        if len(self._values) + sum(v is None for _, v in self._pending.values()) < self.n_initial or not self._values:
            sample = self._random_unseen()
            return None if sample is None else self._take(sample, None)
        if self._ranked is None:
            self._ranked = self._rank()
        while self._ranked:
            sample, believed = self._ranked.pop(0)
            if fingerprint(sample) not in self._seen:
                return self._take(sample, believed)
        sample = self._random_unseen()  # every candidate tried or refused: explore
        return None if sample is None else self._take(sample, None)

    def _rejected(self, sample: Sample) -> None:
        self._pending.pop(fingerprint(sample), None)  # stays seen: never proposed again

    def _observe(self, sample: Sample, result: Any) -> None:
        self._pending.pop(fingerprint(sample), None)
        score = self.score(result)
        if score is not None and math.isfinite(score):
            self._samples.append(sample)
            self._values.append(score)

    # Model use -------------------------------------------------------------------------------------
    def _transform(self, values: list[float]) -> np.ndarray:
        return (np.maximum(np.asarray(values, dtype=np.float64), self._scale[2]) - self._scale[0]) / self._scale[1]

    def _refit(self) -> None:
        believed = [(entry[0], entry[1]) for _, entry in sorted(self._pending.items()) if entry[1] is not None]
        key = [len(self._values), [fingerprint(s) for s, _ in believed]]
        if key == self._fitted:
            return
        values = np.asarray(self._values, dtype=np.float64)
        floor = float(np.quantile(values, 0.1))
        clipped = np.maximum(values, floor)
        self._scale = (float(clipped.mean()), float(clipped.std()) or 1.0, floor)
        samples = self._samples + [s for s, _ in believed]
        y = self._transform(self._values + [float(v) for _, v in believed])
        self._fit(self._encoder.encode(samples), y, len(self._values))
        self._fitted = key

    def _candidates(self) -> list[Sample]:
        order = sorted(range(len(self._values)), key=lambda i: -self._values[i])[: self.n_parents]
        parents = [self._samples[i] for i in order]
        out: list[Sample] = []
        for parent in parents:
            near = neighbours(self.space, parent, self.rng)
            if len(near) > self.max_neighbours:
                near = self.rng.sample(near, self.max_neighbours)
            out += near
        for _ in range(self.n_mutations):
            out.append(mutate(self.space, self.rng.choice(parents), self.rng, 0.5))
        for _ in range(self.n_random):
            out.append(self.space.random_sample(self.rng))
        unique: dict[str, Sample] = {}
        for sample in out:
            key = fingerprint(sample)
            if key not in self._seen and key not in unique:
                unique[key] = sample
        return list(unique.values())

    def _rank(self) -> list[tuple[Sample, float]]:
        self._refit()
        candidates = self._candidates()
        if not candidates:
            return []
        mean, std = self._predict(self._encoder.encode(candidates))
        best = float(self._transform([max(self._values)])[0])
        draws = np.random.default_rng(self.rng.getrandbits(63))
        score = acquisition_values(self.acquisition, mean, std, best, draws)
        order = np.argsort(-score, kind="stable")
        centre, spread, _ = self._scale
        return [(candidates[i], float(mean[i]) * spread + centre) for i in order]

    # State -----------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"samples": self._samples, "values": self._values, "pending": self._pending, "fitted": self._fitted,
                "scale": list(self._scale), "model": self._model_state()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._samples = [dict(s) for s in state["samples"]]
        self._values = [float(v) for v in state["values"]]
        self._pending = {k: [dict(v[0]), None if v[1] is None else float(v[1])] for k, v in state["pending"].items()}
        self._fitted = state["fitted"]
        centre, spread, floor = state["scale"]
        self._scale = (float(centre), float(spread), float(floor))
        self._load_model_state(state["model"])


__all__ = ["ACQUISITIONS", "SurrogateStrategy", "acquisition_values"]
