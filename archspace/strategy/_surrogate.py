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

Targets are the scores' ranks turned into normal quantiles (a copula transform, as in Salinas et
al., ICML 2020): what matters for finding the best is the order at the top, which a few broken
architectures (10% accuracy on NAS-Bench-201) would otherwise squeeze into a sliver of the
target range. On NAS-Bench-201 (BANANAS, EI, 20 seeds) it brought the runs that reach the optimum
by 100 trials from 16 to 18 of 20, against scores clipped at their 10th percentile and
standardised (``targets = "clip"``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from typing import Any

import numpy as np

from archspace.errors import ArchspaceError
from archspace.space.samples import Sample, fingerprint
from archspace.strategy._encoding import Encoder
from archspace.strategy._sampling import mutate, neighbours, random_unseen
from archspace.strategy.base import SampleFilter, Strategy

ACQUISITIONS = ("its", "ei", "mean")
_NORMAL = statistics.NormalDist()
_ROW_CACHE = 200_000  # cached feature rows before the cache starts afresh


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
        self._ranked: list[tuple[Sample, float]] | None = None  # this ask's candidates, best first
        self._rows: dict[str, np.ndarray] = {}  # fingerprint -> feature row (derived: not saved)
        self._near: dict[str, list[tuple[str, Sample]]] = {}  # fingerprint -> neighbours (derived: not saved)
        self._conditional = self.space.is_conditional
        self._new_model()

    def ask(self) -> Sample | None:
        self._ranked = None  # candidates are ranked afresh for each ask; kept across filter rejections
        return super().ask()

    def _random_unseen(self) -> Sample | None:
        return random_unseen(self.space, self.rng, self._seen, self.space_size)

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
    #: How scores become targets: "rank" (normal quantiles of the ranks, values between them
    #: interpolated) or "clip" (clipped at the 10th percentile, standardised).
    targets = "rank"

    def _transform(self, values: list[float] | np.ndarray, inverse: bool = False) -> np.ndarray:
        """Scores as model targets (a function of the results told so far), or back."""
        told = np.sort(np.asarray(self._values, dtype=np.float64))
        v = np.asarray(values, dtype=np.float64)
        if self.targets == "rank":
            z = np.array([_NORMAL.inv_cdf((i + 0.5) / len(told)) for i in range(len(told))])
            return np.interp(v, z, told) if inverse else np.interp(v, told, z)
        floor = float(np.quantile(told, 0.1))
        clipped = np.maximum(told, floor)
        centre, spread = float(clipped.mean()), float(clipped.std()) or 1.0
        return v * spread + centre if inverse else (np.maximum(v, floor) - centre) / spread

    def _refit(self) -> None:
        believed = [(entry[0], entry[1]) for _, entry in sorted(self._pending.items()) if entry[1] is not None]
        key = [len(self._values), [fingerprint(s) for s, _ in believed]]
        if key == self._fitted:
            return
        samples = self._samples + [s for s, _ in believed]
        y = self._transform(self._values + [float(v) for _, v in believed])
        self._fit(self._encode(samples), y, len(self._values))
        self._fitted = key

    def _encode(self, samples: list[Sample], keys: list[str] | None = None) -> np.ndarray:
        """Feature rows, cached by fingerprint (a sample is encoded once per run, not once per ask)."""
        keys = keys if keys is not None else [fingerprint(s) for s in samples]
        missing = [i for i, k in enumerate(keys) if k not in self._rows]
        if missing:
            if len(self._rows) > _ROW_CACHE:
                self._rows.clear()
            for i, row in zip(missing, self._encoder.encode([samples[i] for i in missing])):
                self._rows[keys[i]] = row
        return np.stack([self._rows[k] for k in keys]) if keys else np.zeros((0, self._encoder.dim), np.float32)

    def _neighbours(self, parent: Sample) -> list[tuple[str, Sample]]:
        """The parent's neighbours with their fingerprints; cached where the space has no conditions
        (there they are a function of the parent alone, so the cache changes no run)."""
        if self._conditional:
            return [(fingerprint(n), n) for n in neighbours(self.space, parent, self.rng)]
        key = fingerprint(parent)
        if key not in self._near:
            if len(self._near) > _ROW_CACHE // 10:
                self._near.clear()
            self._near[key] = [(fingerprint(n), n) for n in neighbours(self.space, parent, self.rng)]
        return self._near[key]

    def _candidates(self) -> tuple[list[Sample], list[str]]:
        order = sorted(range(len(self._values)), key=lambda i: -self._values[i])[: self.n_parents]
        parents = [self._samples[i] for i in order]
        out: list[tuple[str, Sample]] = []
        for parent in parents:
            near = self._neighbours(parent)
            if len(near) > self.max_neighbours:
                near = self.rng.sample(near, self.max_neighbours)
            out += near
        for _ in range(self.n_mutations):
            child = mutate(self.space, self.rng.choice(parents), self.rng, 0.5)
            out.append((fingerprint(child), child))
        for _ in range(self.n_random):
            child = self.space.random_sample(self.rng)
            out.append((fingerprint(child), child))
        unique: dict[str, Sample] = {}
        for key, sample in out:
            if key not in self._seen and key not in unique:
                unique[key] = sample
        return list(unique.values()), list(unique)

    def _rank(self) -> list[tuple[Sample, float]]:
        self._refit()
        candidates, keys = self._candidates()
        if not candidates:
            return []
        mean, std = self._predict(self._encode(candidates, keys))
        best = float(self._transform([max(self._values)])[0])
        draws = np.random.default_rng(self.rng.getrandbits(63))
        score = acquisition_values(self.acquisition, mean, std, best, draws)
        order = np.argsort(-score, kind="stable")
        believed = self._transform(mean, inverse=True)
        return [(candidates[i], float(believed[i])) for i in order]

    # State -----------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"samples": self._samples, "values": self._values, "pending": self._pending, "fitted": self._fitted,
                "model": self._model_state()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self._samples = [dict(s) for s in state["samples"]]
        self._values = [float(v) for v in state["values"]]
        self._pending = {k: [dict(v[0]), None if v[1] is None else float(v[1])] for k, v in state["pending"].items()}
        self._fitted = state["fitted"]
        self._load_model_state(state["model"])


__all__ = ["ACQUISITIONS", "SurrogateStrategy", "acquisition_values"]
