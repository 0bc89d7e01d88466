"""Single Path One-Shot: uniform single-path supernet training, and its policy :class:`SampledPath`.

Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling" (ECCV 2020)
trains the supernet one uniformly drawn path per step (:class:`SPOS`); the evolutionary search
over the trained supernet is in ``spos_search.py``. Pham et al., "Efficient Neural Architecture
Search via Parameter Sharing" (ICML 2018) draws the path from a controller. :class:`SampledPath`
serves both: every decision runs exactly one candidate with weight 1 (no gradient reaches the
logits), so only that candidate computes and gets gradients.

The SPOS step: draw one candidate per decision uniformly (every label of the supernet, so nested
and shared decisions are covered), run the training batch on that path, take one SGD step. Under
``torchrun`` rank 0's draw is broadcast, so every rank trains the same path each step (the
gradients averaged across ranks are then gradients of one network). There is no architecture
step. After the supernet is trained, :meth:`SPOS.select` runs the paper's evolutionary search
over it (:class:`~archspace.oneshot.spos_search.EvolutionSearch`: each candidate's subnet with
inherited weights, batch norm recalibrated on ``calibration_batches`` training batches, scored by
its validation reward, under the search's constraint): its best candidate is ``fit``'s answer,
:meth:`export` and, pinned, ``supernet.export()``. ``evolution=False`` trains the supernet only
(for a search run apart, as the paper's code does); the answer is then the space's default
sample, with a warning saying it is no search result.

``path_sampler`` replaces the uniform draw over the labels with another distribution over paths.
Its use is de-isomorphic sampling (Ning et al., "Evaluating Efficient Performance Estimators of
Neural Architectures", NeurIPS 2021): in a cell space many label assignments are one network (an
NB201 cell whose output cannot see an edge ignores that edge's op), so a uniform draw over labels
trains the classes with many members — mostly shallow cells with dead edges — far more often than
the rest, and the supernet learns to rank them too high. Drawing a class uniformly and then its
representative (``archspace.benchmarks.fashion201.class_uniform_sampler()`` for NB201 cells)
trains every network equally often. On Fashion-201 it did not improve the supernet's ranking
(``benchmarks/oneshot_quality.py fidelity --sampler classes``; README).

``strict_fairness=True`` trains as FairNAS does (Chu et al., "FairNAS: Rethinking Evaluation
Fairness of Weight Sharing Neural Architecture Search", ICCV 2021): each training batch runs m
paths, m the most candidates any decision has, drawn so that every candidate of every decision
is on exactly one of them (independent random permutations per decision; a decision with fewer
candidates repeats whole permutations, so its candidates are on ⌊m/k⌋ or ⌈m/k⌉ paths); the m
paths' gradients are summed and the weights take one step. A uniform draw trains every candidate
equally often only in expectation; FairNAS argues that the candidates' drift in how much each
has been trained at any moment is what makes a supernet misrank. It costs m forward/backward
passes per batch. On Fashion-201 (README, "Does one-shot search work?") two FairNAS supernets
ranked the table's cells at Kendall τ 0.57 and 0.49 after 16 epochs (SPOS after 16: 0.35-0.41;
at its best, 32 epochs at a constant rate: 0.56 and 0.49) and agreed with each other at 0.69:
fairness removes variance, and the remaining gap to the table is the shared weights' bias. The
evolution on three such supernets searched no better than on SPOS's (re-checked answers 81.9 %
against 83.1 %, at about three times the CPU): the top of their ranking is still over-rated
shallow cells, which is all a search reads.

Paper settings (ImageNet): SGD, learning rate 0.5 linearly decayed over 120 epochs at batch 1024,
momentum 0.9, weight decay 4e-5, label smoothing 0.1. This trainer keeps the loop's cosine
schedule (pass ``learning_rate`` and ``weight_decay`` to match the rest).

The schedule's length matters more to the ranking than to the accuracy: on Fashion-201 (README,
"Does one-shot search work?") a supernet annealed to 0.001 over 16 epochs ranked the table's cells
at Kendall τ 0.13, the same paths 16 epochs into a 64-epoch schedule at 0.41 and after all 64 at
0.48, and two seeds at a constant 0.025 for 32 epochs at 0.49 and 0.56 — the short annealed run
fits the shallow paths and loses the conv-rich ones. Give the supernet a long schedule, or keep
the learning rate up (``min_learning_rate``), when its ranking of the whole space is what you use.
A better ranking did not make a better search there, though: with the constant rate the
evolution's answer was worse (table accuracy 79.0 ± 4.3 over three seeds against 82.4 ± 1.3 with
this default), because the space's best hundred cells score within 1.5 points of each other while
a cell's score moves by about 2 points from one supernet seed to another — the top pick among the
candidates is decided by that noise. Re-check the evolution's top five or ten candidates by a short
stand-alone training rather than trusting the single best: ``rerank=5`` does it
(:class:`~archspace.oneshot.rerank.StandaloneRerank`: the five best-scored different networks the
evolution scored — label assignments of one network counted once — each trained alone for two
epochs, the best by validation score is the answer; ``trainer.rerank_result`` holds every
candidate's two scores). On Fashion-201 it lifted this default's answer from 82.4 ± 1.3 to
83.0 ± 0.3 (the table's 96th percentile) over the same three seeds, for five 2-epoch trainings.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import distributed as dist
from torch import nn

from archspace.errors import InvalidValueError
from archspace.nn.space import ModelSpace
from archspace.oneshot._reward import reward_metric
from archspace.oneshot.distributed import is_distributed
from archspace.oneshot.loop import Batch, Constraint, LossFn, OneShotTrainer
from archspace.oneshot.policy import Mix, WeightingPolicy
from archspace.oneshot.spos_search import EvolutionResult, EvolutionSearch
from archspace.oneshot.supernet import Supernet
from archspace.space.samples import Sample

logger = logging.getLogger("archspace.oneshot")

#: a path distribution for SPOS's training steps: draws one path (label -> value) with the given
#: generator (the policy's, checkpointed, so a resumed run draws the same paths)
PathSampler = Callable[[torch.Generator], Mapping[str, Any]]


class SampledPath(WeightingPolicy):
    """One candidate per decision: the given sample's, or a uniform draw.

    Args:
        sample: the path to run (label -> value), e.g. a controller's draw or an architecture to
            evaluate; labels it leaves out are drawn uniformly. Change it with :meth:`follow`.
        seed: seeds this policy's own generator (uniform draws), saved in :meth:`state_dict`.

    Example:
        >>> import torch
        >>> from archspace.oneshot import to_supernet
        >>> from archspace.oneshot.spos import SampledPath
        >>> from archspace.testing import SharedNet
        >>> supernet = to_supernet(SharedNet(), SampledPath({"width": 4, "act": "relu"}))
        >>> supernet(torch.randn(2, 1, 8, 8)).shape
        torch.Size([2, 10])
    """

    differentiable = False

    def __init__(self, sample: Mapping[str, Any] | None = None, *, seed: int = 0) -> None:
        self.sample = dict(sample) if sample is not None else None
        self.generator = torch.Generator().manual_seed(seed)

    def follow(self, sample: Mapping[str, Any] | None) -> None:
        """Run ``sample``'s path from the next forward pass on (None: uniform draws)."""
        self.sample = dict(sample) if sample is not None else None

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if self.sample is not None and label in self.sample:
            value = self.sample[label]
            if value not in values:
                raise InvalidValueError(f"sampled path gives {label!r} the value {value!r}; allowed: {list(values)!r}")
            index = list(values).index(value)
        else:
            index = int(torch.randint(len(values), (1,), generator=self.generator))
        return Mix((index,), logits.detach().new_ones(1))

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "sample": self.sample}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.sample = state.get("sample")


def uniform_path(names: Mapping[str, Sequence[Any]], generator: torch.Generator) -> dict[str, Any]:
    """One uniformly drawn candidate per label of ``names`` (label -> candidate values), drawn in
    the labels' order; under ``torch.distributed`` rank 0's draw, broadcast to every rank."""
    labels = list(names)
    drawn = torch.tensor([int(torch.randint(len(names[label]), (1,), generator=generator)) for label in labels],
                         dtype=torch.long)
    if is_distributed():
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", torch.cuda.current_device())
            moved = drawn.to(device)
            dist.broadcast(moved, 0)
            drawn = moved.cpu()
        else:
            dist.broadcast(drawn, 0)
    return {label: names[label][int(i)] for label, i in zip(labels, drawn)}


class SPOS(OneShotTrainer[SampledPath]):
    """Single Path One-Shot supernet training: one uniformly drawn path per training batch.

    Example:
        >>> import torch
        >>> from archspace.testing import SharedNet
        >>> data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> trainer = SPOS(epochs=1, progress=False, evolution={"population": 4, "select": 2, "mutation": 1,
        ...                                                      "crossover": 1, "generations": 2})
        >>> sample = trainer.fit(SharedNet(), data, data)
        >>> sample == trainer.export() == trainer.search_result.best
        True
        >>> sorted(trainer.last_path) == sorted(trainer.supernet.arch.names)
        True

    Args:
        evolution: the search over the trained supernet: an
            :class:`~archspace.oneshot.spos_search.EvolutionSearch`, a mapping of its settings
            (e.g. ``{"population": 20, "generations": 5, "constraint": "flops <= 330e6"}``; its
            ``seed`` defaults to this trainer's), None for the paper's settings, or False for none.
        calibration_batches: training batches each candidate's batch norms are recalibrated on
            (the paper: 200 batches of 128 images).
        path_sampler: draws each training step's path instead of the uniform draw over labels
            (labels it leaves out are drawn uniformly); see the module docstring.
        strict_fairness: FairNAS's training step (m paths per batch covering every candidate of
            every decision, gradients summed, one update); see the module docstring.
        **kwargs: :class:`~archspace.oneshot.OneShotTrainer` settings (``seed`` also seeds the
            path draws, saved with the checkpoint, so a resumed run draws the same paths;
            ``rerank=k`` re-checks the k best different networks the evolution scored by
            stand-alone training and answers with the best: see the module docstring for why).
    """

    uses_validation = False

    def __init__(self, *, evolution: EvolutionSearch | Mapping[str, Any] | bool | None = None,
                 calibration_batches: int = 20, path_sampler: PathSampler | None = None,
                 strict_fairness: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if path_sampler is not None and not callable(path_sampler):
            raise InvalidValueError(f"SPOS path_sampler must be a callable(generator) -> path, got {type(path_sampler).__name__}")
        if not isinstance(strict_fairness, bool):
            raise InvalidValueError(f"SPOS strict_fairness must be True or False, got {strict_fairness!r}")
        if strict_fairness and path_sampler is not None:
            raise InvalidValueError("SPOS takes strict_fairness or a path_sampler, not both: strict fairness fixes "
                                    "which candidates each step's paths hold")
        self.path_sampler = path_sampler
        self.strict_fairness = strict_fairness
        if isinstance(calibration_batches, bool) or not isinstance(calibration_batches, int) or calibration_batches < 1:
            raise InvalidValueError(f"SPOS calibration_batches must be an int >= 1, got {calibration_batches!r}")
        if evolution is True or evolution is None:
            evolution = EvolutionSearch(seed=self.seed)
        elif isinstance(evolution, Mapping):
            evolution = EvolutionSearch(**{"seed": self.seed, **evolution})
        elif evolution is not False and not isinstance(evolution, EvolutionSearch):
            raise InvalidValueError("SPOS evolution must be an EvolutionSearch, a mapping of its settings, None "
                                    f"(the paper's) or False (no search), got {type(evolution).__name__}")
        self.evolution: EvolutionSearch | None = evolution or None
        if self.rerank is not None and self.evolution is None:
            raise InvalidValueError("SPOS rerank re-checks the evolutionary search's best candidates: it needs an "
                                    "evolution (got evolution=False)")
        self.calibration_batches = calibration_batches
        self.search_result: EvolutionResult | None = None  # no architecture step: an epoch is one pass over the training data

    def make_policy(self) -> SampledPath:
        return SampledPath(seed=self.seed)

    @property
    def accepts_constraints(self) -> bool:
        """True with an evolutionary search: a run's ``constraint`` filters its candidates."""
        return self.evolution is not None

    @property
    def has_own_constraint(self) -> bool:
        """Whether the evolutionary search was given a ``constraint`` of its own."""
        return self.evolution is not None and self.evolution.constraint is not None

    @property
    def last_path(self) -> dict[str, Any]:
        """The path of the latest training step (empty before the first)."""
        return dict(self.policy.sample or {})

    def draw_path(self) -> dict[str, Any]:
        """The next path (the same on every rank) — every decision of the supernet: uniform, or
        ``path_sampler``'s draw with any label it leaves out drawn uniformly."""
        names = self.supernet.arch.names
        if self.path_sampler is None:
            return uniform_path(names, self.policy.generator)
        drawn = dict(self.path_sampler(self.policy.generator))
        unknown = sorted(set(drawn) - set(names))
        if unknown:
            raise InvalidValueError(f"SPOS path_sampler drew labels the supernet does not have: {unknown}; "
                                    f"its labels are {sorted(names)}")
        for label, value in drawn.items():
            if value not in names[label]:
                raise InvalidValueError(f"SPOS path_sampler drew {value!r} for {label!r}; its candidates are {list(names[label])}")
        rest = {label: values for label, values in names.items() if label not in drawn}
        path = {**drawn, **(uniform_path(rest, self.policy.generator) if rest else {})}
        if is_distributed():  # rank 0's draw on every rank
            box: list[Any] = [path]
            dist.broadcast_object_list(box, src=0)
            path = box[0]
        return {label: path[label] for label in names}

    def fair_paths(self) -> list[dict[str, Any]]:
        """FairNAS's draw (the same on every rank): m paths, m the most candidates of any
        decision, in which each decision's candidates take turns in a random order — every
        candidate on exactly one path where the decision has m candidates, on ⌊m/k⌋ or ⌈m/k⌉
        where it has k < m."""
        names = self.supernet.arch.names
        m = max(len(values) for values in names.values())
        columns: dict[str, list[Any]] = {}
        for label, values in names.items():
            order: list[int] = []
            while len(order) < m:
                order += torch.randperm(len(values), generator=self.policy.generator).tolist()
            columns[label] = [values[i] for i in order[:m]]
        paths = [{label: columns[label][j] for label in names} for j in range(m)]
        if is_distributed():  # rank 0's draw on every rank
            box: list[Any] = [paths]
            dist.broadcast_object_list(box, src=0)
            paths = box[0]
        return paths

    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        """Draw a path, follow it, one SGD step on ``train`` (``val`` is not used); with
        ``strict_fairness``, FairNAS's m paths on the batch and one step on their summed gradients."""
        if not self.strict_fairness:
            self.policy.follow(self.draw_path())
            return {"train_loss": self.weight_step(train, loss_fn)}
        x, y = train
        self.weight_optimizer.zero_grad(set_to_none=True)
        paths = self.fair_paths()
        total = 0.0
        for path in paths:
            self.policy.follow(path)
            loss = loss_fn(self.supernet(x), y)
            loss.backward()  # accumulates: the update is on the sum over the m paths (the paper's)
            total += float(loss.detach())
        self.apply_weight_gradients()
        return {"train_loss": total / len(paths)}

    def select(self, train_data: Iterable[Batch], val_data: Iterable[Batch], *, loss_fn: LossFn,
               device: str | torch.device = "cpu", on_candidate: Callable[[Sample, float], None] | None = None,
               known: Mapping[str, float] | None = None, constraint: Constraint | None = None) -> Sample:
        """The evolutionary search's best candidate (see the module docstring); ``constraint``, a
        filter for this run only, is checked in addition to the search's own."""
        self.search_result = None
        if self.evolution is None:
            logger.warning("SPOS(evolution=False) trained the supernet only: its answer is the space's default "
                           "sample, not a search result; run EvolutionSearch over trainer.supernet to search it")
            return self.supernet.space[0].default_sample()
        calibration = list(itertools.islice(iter(train_data), self.calibration_batches))
        validation = list(val_data)
        if not calibration or not validation:
            raise InvalidValueError("SPOS's evolutionary search needs training batches (batch-norm recalibration) and "
                                    "validation batches (scores): pass val_data to fit(), or evolution=False")
        result = self.evolution.search(self.supernet, calibration, validation, device=device,
                                       metric=reward_metric(loss_fn, device), on_score=on_candidate, known=known,
                                       constraint=constraint)
        self.search_result = result
        self.answer_score = result.best_score
        if is_distributed():  # ranks may hold other seeds: rank 0's search is the answer on every rank
            chosen: list[Any] = [result.best, result.best_score]
            dist.broadcast_object_list(chosen, src=0)
            self.answer_score = float(chosen[1])
            return dict(chosen[0])
        return result.best

    rerank_source = "the evolution's best (inherited-weight score)"

    def rerank_candidates(self, k: int) -> list[tuple[Sample, float]]:
        """The evolution's ``k`` best-scored candidates (of all it scored), with their
        inherited-weight scores, best first (ties in scoring order)."""
        if self.search_result is None:
            return []
        return sorted(self.search_result.scored, key=lambda item: -item[1])[:k]

    def fit(self, space: ModelSpace | Supernet, train_data: Iterable[Batch],
            val_data: Iterable[Batch] | None = None, *, loss_fn: LossFn = nn.functional.cross_entropy,
            directory: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
            resume: bool = False, on_epoch: Callable[[dict[str, Any]], None] | None = None,
            threads: int | None = None, on_candidate: Callable[[Sample, float], None] | None = None,
            known_candidates: Mapping[str, float] | None = None,
            annotate_epoch: Callable[[dict[str, Any]], None] | None = None,
            constraint: Constraint | None = None) -> Sample:
        """Train the supernet, then search it (see :meth:`OneShotTrainer.fit`): ``val_data`` is not
        read while training (SPOS trains no architecture parameters) but scores the candidates of
        the evolutionary search (``constraint``: a filter for this run's candidates, in addition to
        the search's own). Returns the search's best candidate."""
        if val_data is None:
            if self.evolution is not None:
                raise InvalidValueError("SPOS.fit needs val_data to score the evolutionary search's candidates "
                                        "(or SPOS(evolution=False) to train the supernet only)")
            val_data = []
        if self.evolution is not None:  # constraint strings a space cannot count: refused before training
            self.evolution.constraint_filter(space.space[0] if isinstance(space, Supernet) else space)
        return super().fit(space, train_data, val_data, loss_fn=loss_fn, directory=directory, device=device,
                           resume=resume, on_epoch=on_epoch, threads=threads, on_candidate=on_candidate,
                           known_candidates=known_candidates, annotate_epoch=annotate_epoch, constraint=constraint)


__all__ = ["SPOS", "SampledPath", "uniform_path"]
