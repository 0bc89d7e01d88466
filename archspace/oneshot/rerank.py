"""Re-checking a search's best candidates by short stand-alone training (``rerank=k`` of every one-shot trainer).

Why: a supernet's inherited-weight score ranks a space well on the whole and its best candidates
badly against each other. On Fashion-201 (README, "Does one-shot search work?") an SPOS supernet
ranks all 1,017 table cells at Kendall τ 0.55, yet the table's best hundred cells score within
1.5 points of each other while one cell's score moves by about 2.3 points from one supernet seed
to another: the single best-scored candidate is picked by that noise (a winner's curse), and in 6
of 14 saved score sets it was below the table's 90th percentile. Training each of the top five
alone for the table's two epochs and keeping the best by validation accuracy landed at or above
the 90th percentile in 13 of 14. The cost is ``top`` short trainings, a small fraction of the
supernet's.

The check is a fresh model per candidate (``space.standalone_form().freeze(sample)``: a sample
found on a search form is trained in the space's stand-alone form, e.g. NB201's with affine batch
norms; initial weights drawn under the same ``seed`` for every candidate), trained on the
training batches for ``epochs`` with SGD (Nesterov momentum, weight decay, the learning rate
annealed per batch by a cosine to 0: NB201's recipe, which the Fashion-201 table trains with),
then scored on the validation batches by the search's own metric (accuracy for class logits, else
the negated loss). Every candidate sees the same batches in the same order, so the comparison is
between architectures, not data orders. Ties keep the supernet's order.

The search's batches are sized for the search (DARTS's 64, half the training set), not for the
stand-alone protocol the candidates are judged by. ``batch_size`` pools their examples and re-cuts
them each epoch, reshuffled by a generator seeded with ``seed``, the way a retraining script's
loader would: on Fashion-201, training the same cell on the search's 64-image batches scored it
about 2 points above the table's validation accuracy and swapped close candidates' order, while
``batch_size=128`` (the table's) with the table's seed repeats the table's own training exactly.

Two epochs from one draw of initial weights is itself a noisy measurement, and the best of several
noisy scores favours the luckiest draw (the winner's curse again, one level down): on Fashion-201
two DARTS-PT searches kept cells that scored about 85.5 % under their seed's initial weights and
80-81 % under the table's, over candidates the table puts at its 96th-99th percentile. ``repeats``
trains each candidate under ``repeats`` seeds (``seed``, ``seed + 1``, ...; weights and, with
``batch_size``, the shuffling) and ranks by the mean score, which halves the noise's variance at
two and doubles the cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from archspace.errors import InvalidValueError
from archspace.nn.space import ModelSpace
from archspace.oneshot._reward import Batch, LossFn
from archspace.space.samples import Sample

#: Scores a trained model (in evaluation mode) on validation batches; higher is better.
Metric = Callable[[nn.Module, Iterable[Batch]], float]


def _positive_int(value: Any, what: str, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"{what} must be {allowed}, got {value!r}")
    return value


def _number(value: Any, what: str, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise InvalidValueError(f"{what} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class StandaloneRerank:
    """Settings of the stand-alone re-check of a search's best candidates.

    Args:
        top: how many of the best-scored candidates are trained (5; the search must keep at
            least this many: SPOS's evolution keeps ``select``).
        epochs: passes over the training batches per candidate (2, the Fashion-201 table's).
        learning_rate: SGD's starting rate, annealed per batch by a cosine to 0 (0.1).
        momentum: Nesterov momentum (0.9).
        weight_decay: on every parameter (5e-4).
        batches_per_epoch: read at most this many training batches per epoch (None: all), to
            bound the cost on a large training set.
        seed: the initial weights of every candidate are drawn under it, and with ``batch_size``
            the shuffling too (None: the trainer's).
        batch_size: None: train on the training batches as given, in their order each epoch (a
            loader that shuffles keeps doing so). An int: pool the examples of those batches (at
            most ``batches_per_epoch`` of them) once, in memory, and re-cut them into batches of
            this size, reshuffled every epoch, the same orders for every candidate — the
            retraining protocol's batch size rather than the search's.
        repeats: trainings per candidate, under the seeds ``seed``, ``seed + 1``, ...; its score
            is their mean (1: one training; see the module docstring for why more).
    """

    top: int = 5
    epochs: int = 2
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batches_per_epoch: int | None = None
    seed: int | None = None
    batch_size: int | None = None
    repeats: int = 1

    def __post_init__(self) -> None:
        _positive_int(self.top, "StandaloneRerank top", "an int >= 1 (the candidates re-checked)")
        _positive_int(self.epochs, "StandaloneRerank epochs", "an int >= 1")
        _positive_int(self.repeats, "StandaloneRerank repeats", "an int >= 1 (trainings per candidate, scores averaged)")
        _number(self.learning_rate, "StandaloneRerank learning_rate", positive=True)
        _number(self.momentum, "StandaloneRerank momentum", positive=False)
        _number(self.weight_decay, "StandaloneRerank weight_decay", positive=False)
        if self.batches_per_epoch is not None:
            _positive_int(self.batches_per_epoch, "StandaloneRerank batches_per_epoch", "an int >= 1 or None (all)")
        if self.batch_size is not None:
            _positive_int(self.batch_size, "StandaloneRerank batch_size",
                          "an int >= 1 (re-cut the training examples into batches of it) or None (the batches as given)")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise InvalidValueError(f"StandaloneRerank seed must be an int or None (the trainer's), got {self.seed!r}")

    @classmethod
    def coerce(cls, value: Any, *, seed: int) -> StandaloneRerank | None:
        """``value`` as settings: an int is ``top``, a mapping holds the fields, None/0/False is
        no re-check; the seed defaults to ``seed``."""
        if value is None or value is False or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
            return None
        if isinstance(value, cls):
            rerank = value
        elif isinstance(value, int) and not isinstance(value, bool):
            rerank = cls(top=value)
        elif isinstance(value, Mapping):
            unknown = sorted(set(value) - set(cls.__dataclass_fields__))
            if unknown:
                raise InvalidValueError(f"rerank settings {unknown} are unknown; the settings are "
                                        f"{sorted(cls.__dataclass_fields__)}")
            rerank = cls(**dict(value))
        else:
            raise InvalidValueError("rerank must be the number of candidates to re-check, a StandaloneRerank, a dict of "
                                    f"its settings, or None/0 (none); got {type(value).__name__}")
        if rerank.seed is None:
            rerank = replace(rerank, seed=seed)
        return rerank


@dataclass
class RerankResult:
    """What the re-check found.

    Attributes:
        ranked: (sample, stand-alone score, inherited score) per candidate, best stand-alone
            score first (ties in the supernet's order); the stand-alone score is the mean over
            the repeats.
        repeat_scores: per candidate of ``ranked`` (same order), each repeat's score, seed by
            seed.
        seconds: wall time of the whole re-check.
        cpu_seconds: this process's CPU time over it (all its threads): what the re-check cost
            on a shared machine, where wall time also counts the others' work.
    """

    ranked: list[tuple[Sample, float, float]] = field(default_factory=list)
    repeat_scores: list[tuple[float, ...]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def best(self) -> Sample:
        """The candidate with the best stand-alone score."""
        return self.ranked[0][0]

    @property
    def best_score(self) -> float:
        """Its stand-alone validation score."""
        return self.ranked[0][1]


@dataclass(frozen=True)
class PooledExamples:
    """Training examples pooled from batches, re-cut into shuffled batches each epoch (see
    :attr:`StandaloneRerank.batch_size`)."""

    inputs: torch.Tensor
    targets: torch.Tensor

    @classmethod
    def pool(cls, batches: Iterable[Batch], limit: int | None = None) -> PooledExamples:
        """The examples of ``batches`` (the first ``limit`` of them), concatenated."""
        inputs, targets = [], []
        for i, (x, y) in enumerate(batches):
            if limit is not None and i == limit:
                break
            inputs.append(x)
            targets.append(y)
        if not inputs:
            raise InvalidValueError("the stand-alone re-check needs training batches; the training data is empty")
        try:
            return cls(torch.cat(inputs), torch.cat(targets))
        except (TypeError, RuntimeError) as exc:
            raise InvalidValueError("StandaloneRerank batch_size pools the training batches' examples into one tensor "
                                    f"each for inputs and targets, which these batches do not allow ({exc}); leave "
                                    "batch_size None to train on the batches as given") from exc

    def __len__(self) -> int:
        return len(self.inputs)

    def batches(self, size: int, generator: torch.Generator) -> Iterator[Batch]:
        """One epoch: every example once, in a fresh order drawn from ``generator``, ``size`` at a time."""
        order = torch.randperm(len(self.inputs), generator=generator)
        for i in range(0, len(order), size):
            index = order[i:i + size]
            yield self.inputs[index], self.targets[index]


def train_standalone(space: ModelSpace, sample: Sample, train_data: Iterable[Batch] | PooledExamples, *,
                     settings: StandaloneRerank, loss_fn: LossFn, device: str | torch.device = "cpu",
                     per_epoch: int | None = None) -> nn.Module:
    """``sample``'s model, freshly built with its weights drawn under ``settings.seed``, trained
    for ``settings.epochs`` on ``train_data`` (see the module docstring); returned in eval mode.
    The caller's random stream is left as it was. ``per_epoch``: the batches per epoch when the
    caller has counted them (else counted here). With ``settings.batch_size`` the examples are
    pooled here unless ``train_data`` already is (:class:`PooledExamples`, as :func:`rerank` passes)."""
    pooled: PooledExamples | None = None
    if isinstance(train_data, PooledExamples) or settings.batch_size is not None:
        if settings.batch_size is None:
            raise InvalidValueError("pooled training examples need StandaloneRerank batch_size to re-cut them")
        pooled = train_data if isinstance(train_data, PooledExamples) else \
            PooledExamples.pool(train_data, settings.batches_per_epoch)
        per_epoch = -(-len(pooled) // settings.batch_size)
    elif per_epoch is None:
        per_epoch = _count(train_data, settings.batches_per_epoch)
    with torch.random.fork_rng(devices=[]):  # building another form draws weights: not from the caller's stream
        space = space.standalone_form()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(settings.seed or 0))
        model = space.freeze(sample).to(device)
        if per_epoch == 0:
            raise InvalidValueError("the stand-alone re-check needs training batches; the training data is empty")
        opt = torch.optim.SGD(model.parameters(), lr=settings.learning_rate, momentum=settings.momentum,
                              nesterov=settings.momentum > 0, weight_decay=settings.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.epochs * per_epoch)
        shuffler = torch.Generator().manual_seed(int(settings.seed or 0))
        given: Iterable[Batch] = () if isinstance(train_data, PooledExamples) else train_data
        for _ in range(settings.epochs):
            model.train()
            epoch = pooled.batches(int(settings.batch_size or 1), shuffler) if pooled is not None else given
            for i, (x, y) in enumerate(epoch):
                if i == per_epoch:
                    break
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x.to(device)), y.to(device))
                if not torch.isfinite(loss):
                    break  # a diverging candidate: scored as it is (badly), the others still get theirs
                loss.backward()
                opt.step()
                schedule.step()
    model.eval()
    return model


def _count(batches: Iterable[Batch], limit: int | None) -> int:
    """Batches per epoch (at most ``limit``), by ``len`` where the data has one, else by a pass."""
    try:
        n = len(batches)  # type: ignore[arg-type]
    except TypeError:
        n = 0
        for _ in batches:
            n += 1
            if limit is not None and n >= limit:
                break
    return n if limit is None else min(n, limit)


def rerank(space: ModelSpace, candidates: Sequence[tuple[Sample, float]], train_data: Iterable[Batch],
           val_data: Iterable[Batch], *, settings: StandaloneRerank, loss_fn: LossFn, metric: Metric,
           device: str | torch.device = "cpu",
           on_score: Callable[[Sample, float, float], None] | None = None) -> RerankResult:
    """Train the first ``settings.top`` of ``candidates`` ((sample, inherited score), best first)
    alone (``settings.repeats`` times each, one seed per repeat) and rank them by the mean of
    ``metric`` on ``val_data``; ``on_score(sample, mean score, inherited)`` after each."""
    if not candidates:
        raise InvalidValueError("the stand-alone re-check got no candidates")
    start, cpu = time.perf_counter(), time.process_time()
    scored: list[tuple[Sample, float, float]] = []
    repeats: list[tuple[float, ...]] = []
    first_seed = int(settings.seed or 0)
    with torch.random.fork_rng(devices=[]):  # the stand-alone form, once (see train_standalone)
        space = space.standalone_form()
    # once, not per candidate (a pass over data without len())
    source: Iterable[Batch] | PooledExamples = train_data
    per_epoch: int | None = None
    if settings.batch_size is not None:
        source = PooledExamples.pool(train_data, settings.batches_per_epoch)
    else:
        per_epoch = _count(train_data, settings.batches_per_epoch)
    for sample, inherited in list(candidates)[:settings.top]:
        scores = []
        for r in range(settings.repeats):
            model = train_standalone(space, sample, source, settings=replace(settings, seed=first_seed + r),
                                     loss_fn=loss_fn, device=device, per_epoch=per_epoch)
            with torch.no_grad():
                one = float(metric(model, val_data))
            scores.append(one if math.isfinite(one) else float("-inf"))  # a diverged training scores worst
        score = sum(scores) / len(scores)
        scored.append((dict(sample), score, float(inherited)))
        repeats.append(tuple(scores))
        if on_score is not None:
            on_score(dict(sample), score, float(inherited))
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))  # ties: the supernet's order
    return RerankResult(ranked=[scored[i] for i in order], repeat_scores=[repeats[i] for i in order],
                        seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu)


__all__ = ["PooledExamples", "RerankResult", "StandaloneRerank", "rerank", "train_standalone"]
