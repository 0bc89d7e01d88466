"""The training loop every one-shot strategy shares: :class:`OneShotTrainer`.

It owns: building the supernet under the algorithm's weighting policy, the two optimizers (SGD
with cosine schedule for weights, Adam for architecture logits, as in DARTS), progress, the
per-epoch architecture log (``arch_history.json``, and an ``on_epoch`` callback) and checkpoints
(``checkpoint.pt``, resumable; ``checkpoint.py`` names both files). An algorithm's file holds its policy
(:meth:`OneShotTrainer.make_policy`) and its ``step`` (one alternation of architecture and weight
updates).

Data parallelism (``distributed.py``): under ``torchrun`` (``torch.distributed`` initialised, gloo
on CPU or nccl on GPU) every rank starts from rank 0's weights and logits, and after every
backward pass the gradients of both are averaged across ranks, so all ranks hold identical
parameters at all times. Each rank should read its own shard of the data (e.g. a
``DistributedSampler``).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast

import torch
from torch import distributed as dist
from torch import nn

from archspace._threads import torch_threads
from archspace.errors import ArchspaceError
from archspace.nn.init import rebuild_seeded
from archspace.nn.space import ModelSpace
from archspace.oneshot._pairs import cycle_shorter
from archspace.oneshot._reward import reward_metric
from archspace.oneshot.checkpoint import (
    checkpoint_path,
    epoch_sample_path,
    restore_checkpoint,
    save_checkpoint,
    write_history,
)
from archspace.oneshot.distributed import (
    average_gradients,
    broadcast_buffers,
    broadcast_parameters,
    is_distributed,
    is_main,
)
from archspace.oneshot.policy import Softmax, WeightingPolicy
from archspace.oneshot.rerank import RerankResult, StandaloneRerank, rerank
from archspace.oneshot.supernet import Supernet, to_supernet
from archspace.space.samples import Sample, fingerprint

logger = logging.getLogger("archspace.oneshot")
#: the re-check looks this many times ``top`` candidates deep for ``top`` different networks, and
#: where that finds fewer (a distribution sharp on the edges that matter, near-uniform on edges
#: nothing reads: every runner-up is the answer under other labels), ``RERANK_DEEP_POOL`` times
RERANK_POOL = 20
RERANK_DEEP_POOL = 200
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor]
#: A predicate on samples: False for one that breaks a constraint (e.g. a hardware ConstraintFilter).
Constraint = Callable[[Mapping[str, Any]], bool]
#: The weighting policy an algorithm trains its supernet under (its trainer's type parameter).
P = TypeVar("P", bound=WeightingPolicy)


class OneShotTrainer(Generic[P]):
    """Base of the differentiable one-shot strategies (see the module docstring).

    Generic over its weighting policy ``P``: an algorithm binds it (``class GumbelDARTS(
    OneShotTrainer[Gumbel])``), so its ``step`` reads ``self.policy`` as that type without checks.

    Args:
        epochs: search epochs.
        learning_rate, momentum, weight_decay, min_learning_rate: weight SGD, cosine-annealed
            per epoch from ``learning_rate`` to ``min_learning_rate`` (DARTS: 0.025, 0.9, 3e-4, 0.001).
        grad_clip: gradient-norm clip of the weights (DARTS: 5).
        arch_learning_rate, arch_betas, arch_weight_decay: Adam on the logits (DARTS: 3e-4,
            (0.5, 0.999), 1e-3).
        seed: fixes the search: the supernet's initial weights (the space's constructor run again
            under the seed), the architecture logits and every path the policy samples. The data
            order is the evaluator's (its own seed) or the loaders'. Two runs with the same seeds
            and data give the same architecture and the same final weights (bit-identical on one
            thread; several threads may sum in another order).
        reset_weights: build the supernet from the space's constructor re-run under ``seed``
            (:func:`archspace.nn.init.rebuild_seeded`), not from the weights the given space
            holds; False keeps those (e.g. pretrained ones), which the seed then does not fix.
        progress: show a progress bar per epoch (default: when stderr is a terminal).
        savings: keyword arguments of :func:`~archspace.oneshot.to_supernet` for the supernet this
            trainer builds, e.g. ``{"channels_last": True}`` (opt-in, faster on CPU) or
            ``{"checkpoint_ops": True}`` (far less memory, slower); the exact savings are on by default.
        rerank: after the paper's selection, train each of the search's ``k`` best candidates
            alone for a short while and answer with the best by validation score (an int ``k``, a
            :class:`~archspace.oneshot.rerank.StandaloneRerank` or a dict of its settings; None:
            the paper's answer). The candidates are SPOS's evolution top, ENAS's final draws by
            reward, and for the differentiable algorithms the ``k`` most probable architectures
            (:meth:`likely_samples`). Not in any paper: a supernet's best-scored candidates are
            close together and its scores noisy, so the single best is partly luck (measured on
            Fashion-201: README, "Does one-shot search work?"); costs ``k`` short trainings.
            Give the re-check the retraining's batch size (``{"top": k, "batch_size": B}``) when
            the search's batches are cut otherwise, and ``"repeats": n`` to average each
            candidate over n trainings (seeds) where two epochs from one draw are too noisy.
    """

    #: The policy of the current search (set by :meth:`build` from :meth:`make_policy`).
    policy: P

    #: Whether ``step`` reads validation batches (an architecture step). Without one, an epoch
    #: is one pass over the training data and the validation data is not read during the search.
    uses_validation: bool = True

    @property
    def accepts_constraints(self) -> bool:
        """Whether :meth:`fit` takes a ``constraint``: only an answer selected among scored
        candidates can skip those breaking it (SPOS's evolution); an argmax of logits cannot."""
        return False

    @property
    def has_own_constraint(self) -> bool:
        """Whether the algorithm holds a constraint of its own (SPOS's evolution's), which one
        handed to :meth:`fit` as well would give a second time."""
        return False

    def __init__(self, *, epochs: int = 50, learning_rate: float = 0.025, momentum: float = 0.9,
                 weight_decay: float = 3e-4, min_learning_rate: float = 0.001, grad_clip: float = 5.0,
                 arch_learning_rate: float = 3e-4, arch_betas: tuple[float, float] = (0.5, 0.999),
                 arch_weight_decay: float = 1e-3, seed: int = 0, progress: bool | None = None,
                 savings: Mapping[str, bool] | None = None, reset_weights: bool = True,
                 rerank: StandaloneRerank | Mapping[str, Any] | int | None = None) -> None:
        allowed = ("skip_zero", "share_relu", "fold_weight", "checkpoint_ops", "channels_last")
        unknown = sorted(set(savings or {}) - set(allowed))
        if unknown:
            raise ArchspaceError(f"unknown supernet savings {unknown}; allowed: {list(allowed)} "
                                 "(see archspace.oneshot.to_supernet)")
        self.savings = dict(savings or {})
        self.reset_weights = reset_weights
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.min_learning_rate = min_learning_rate
        self.grad_clip = grad_clip
        self.arch_learning_rate = arch_learning_rate
        self.arch_betas = arch_betas
        self.arch_weight_decay = arch_weight_decay
        self.seed = seed
        self.progress = progress
        self.rerank = StandaloneRerank.coerce(rerank, seed=seed)
        self.rerank_result: RerankResult | None = None

    # Set up ---------------------------------------------------------------------------------------
    def build(self, space: ModelSpace | Supernet, device: str | torch.device = "cpu") -> Supernet:
        """The supernet and both optimizers (called by :meth:`fit`; public for custom loops)."""
        torch.manual_seed(self.seed)
        if self.reset_weights and isinstance(space, ModelSpace):
            # The space's weights came from whatever state the global generator was in.
            space = rebuild_seeded(space, self.seed) or space
        supernet = space if isinstance(space, Supernet) else to_supernet(space, None, **self.savings)
        self.policy = self.make_policy()
        supernet.policy = self.policy
        supernet.to(device)
        broadcast_parameters(supernet)
        self.supernet = supernet
        self.weight_optimizer = torch.optim.SGD(supernet.weight_parameters(), lr=self.learning_rate,
                                                momentum=self.momentum, weight_decay=self.weight_decay)
        self.arch_optimizer = torch.optim.Adam(supernet.arch_parameters(), lr=self.arch_learning_rate,
                                               betas=self.arch_betas, weight_decay=self.arch_weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.weight_optimizer, max(self.epochs, 1),
                                                                    eta_min=self.min_learning_rate)
        self.epoch = 0
        return supernet

    def make_policy(self) -> P:
        """The weighting policy the supernet runs under (default: DARTS's softmax).

        An algorithm with another policy overrides it; the default suits ``P`` of
        :class:`~archspace.oneshot.policy.Softmax` (or any :class:`WeightingPolicy`).
        """
        return cast(P, Softmax())

    # One alternation ----------------------------------------------------------------------------------
    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        """Update architecture (on ``val``) and weights (on ``train``); return the losses."""
        raise NotImplementedError

    def arch_backward(self, loss: torch.Tensor) -> None:
        """Set the architecture parameters' gradients of ``loss`` — and only theirs.

        ``loss.backward()`` would also compute every weight gradient (each convolution's
        weight-gradient kernel), which the weight step then discards: the architecture step
        needs the backward pass through the activations, not those kernels.
        """
        arch = [p for p in self.supernet.arch_parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, arch, allow_unused=True)
        for param, grad in zip(arch, grads):
            param.grad = grad

    def weight_step(self, train: Batch, loss_fn: LossFn) -> float:
        """One SGD step of the weights on a training batch, with clipping and averaging."""
        x, y = train
        self.weight_optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(self.supernet(x), y)
        loss.backward()
        self.apply_weight_gradients()
        return float(loss.detach())

    def apply_weight_gradients(self) -> None:
        """The update by the weights' accumulated gradients: averaged across ranks, clipped, one
        optimiser step, buffers broadcast (shared by every step that accumulates its own)."""
        params = list(self.supernet.weight_parameters())
        average_gradients(params)
        nn.utils.clip_grad_norm_(params, self.grad_clip)
        self.weight_optimizer.step()
        broadcast_buffers(self.supernet)

    def epoch_pairs(self, train_data: Iterable[Batch], val_data: Iterable[Batch]) -> Iterator[tuple[Batch, Batch]]:
        """One epoch's (training, validation) batch pairs.

        Every training batch is used once per epoch. Without an architecture step
        (``uses_validation`` False) the validation side is an empty placeholder and the validation
        data is never read; with one, the shorter of the two is started again until the longer ends
        (zipping them would end the epoch with the shorter and leave training data unread).

        Raises:
            ArchspaceError: a loader that yields nothing when started again (an exhausted iterator).
        """
        if not self.uses_validation:
            empty: Batch = (torch.empty(0), torch.empty(0, dtype=torch.long))
            for batch in train_data:
                yield batch, empty
            return
        yield from cycle_shorter(train_data, val_data)

    def on_epoch_start(self, epoch: int) -> None:
        """Hook for schedules (e.g. the Gumbel temperature)."""

    def prepare_epoch(self, epoch: int, val_data: Iterable[Batch], *, loss_fn: LossFn,
                      device: str | torch.device) -> None:
        """Hook run before ``epoch`` trains, after :meth:`on_epoch_start`, with the validation data:
        for work between epochs that reads the supernet's validation score (DARTS-PT's projections).
        What it changes is in the checkpoint written at the end of the epoch."""

    def planned_epochs(self, space: ModelSpace | Supernet) -> int:
        """The epochs :meth:`fit` will run on ``space``, known before the search starts (an
        experiment records it as the search's length): ``epochs``, unless an algorithm's length
        depends on the space (DARTS-PT: one fine-tuning stretch per decision)."""
        return self.epochs

    @property
    def total_epochs(self) -> int:
        """The epochs :meth:`fit` runs: ``epochs``, and for an algorithm with a phase after the
        supernet's training (DARTS-PT's fine-tuning between projections) those too."""
        return self.epochs

    # The loop -----------------------------------------------------------------------------------------
    def fit(self, space: ModelSpace | Supernet, train_data: Iterable[Batch], val_data: Iterable[Batch], *,
            loss_fn: LossFn = nn.functional.cross_entropy, directory: str | os.PathLike[str] | None = None,
            device: str | torch.device = "cpu", resume: bool = False,
            on_epoch: Callable[[dict[str, Any]], None] | None = None, threads: int | None = None,
            on_candidate: Callable[[Sample, float], None] | None = None,
            known_candidates: Mapping[str, float] | None = None,
            annotate_epoch: Callable[[dict[str, Any]], None] | None = None,
            constraint: Constraint | None = None) -> Sample:
        """Search; return the algorithm's answer (:meth:`export`). With ``directory``, log and
        checkpoint there.

        The answer is what the algorithm's paper derives after training the supernet
        (:meth:`select`): DARTS, GumbelDARTS and ProxylessNAS the strongest candidate of every
        decision, ENAS the best of several controller draws by validation reward, SPOS the
        evolutionary search over the trained supernet; with ``rerank``, the best of its best
        candidates trained alone (:meth:`recheck`). When it is not the logits' argmax the
        supernet is pinned to it (:meth:`Supernet.pin`), so ``supernet.export()`` returns it too.

        Args:
            threads: torch threads while searching (restored after). None: ``OMP_NUM_THREADS`` if
                set, else a fair share of the usable CPUs among this machine's torchrun ranks —
                more threads than cores made small steps tens of times slower. Logged either way.
            on_epoch: called on rank 0 at the end of every epoch, after its checkpoint is written,
                with the epoch's record (the entry ``arch_history.json`` gets: ``epoch``,
                ``seconds``, ``steps``, the mean losses, ``sample`` and ``distribution``), so a
                caller such as an experiment store can record epochs without reading files.
            on_candidate: called with every architecture the final selection scores and its score
                (higher is better), e.g. to store it as a trial.
            known_candidates: scores by sample fingerprint from an interrupted selection, not
                computed again (see :meth:`select`).
            annotate_epoch: called with each epoch's record before it is written to the history
                and the checkpoint, to add figures of its own (an experiment adds the validation
                metric), so that a record recovered from the history after a crash holds them.
            constraint: for this run only, candidates the selection must not pick (in addition to
                the algorithm's own constraint); only where :attr:`accepts_constraints`.
        """
        if constraint is not None and not self.accepts_constraints:
            raise ArchspaceError(f"{type(self).__name__} takes no constraint: its answer is not selected among "
                                 "scored candidates (SPOS's evolutionary search takes one)")
        with torch_threads(threads, f"{type(self).__name__} search"):
            self._fit(space, train_data, val_data, loss_fn, directory, device, resume, on_epoch, annotate_epoch)
            with torch.random.fork_rng(devices=[]):  # the answer must not move the caller's random stream
                answer = self.select(train_data, val_data, loss_fn=loss_fn, device=device,
                                     on_candidate=on_candidate, known=known_candidates, constraint=constraint)
                self.selection = dict(answer)
                if self.rerank is not None:
                    answer = self.recheck(answer, train_data, val_data, loss_fn=loss_fn, device=device)
            self.answer = dict(answer)
            if self.supernet.export() != self.answer:  # chosen otherwise than by the logits
                self.supernet.pin(self.answer)
            return dict(self.answer)

    # The answer -------------------------------------------------------------------------------------
    #: The sample :meth:`fit` returned (None before the search has finished).
    answer: Sample | None = None
    #: The paper's answer (:meth:`select`), before any stand-alone re-check replaced it.
    selection: Sample | None = None
    #: The selection score of the answer where :meth:`select` scores candidates (higher is
    #: better: accuracy, or the negated loss), else None.
    answer_score: float | None = None
    #: How the answer was selected, where :meth:`select` says more than its score (SPOS with a
    #: stand-alone re-check: the inherited and stand-alone scores); stored with an experiment's
    #: result trial. Empty otherwise.
    answer_details: Mapping[str, Any] = MappingProxyType({})

    def select(self, train_data: Iterable[Batch], val_data: Iterable[Batch], *, loss_fn: LossFn,
               device: str | torch.device = "cpu", on_candidate: Callable[[Sample, float], None] | None = None,
               known: Mapping[str, float] | None = None, constraint: Constraint | None = None) -> Sample:
        """The architecture the search derives from the trained supernet (called by :meth:`fit`).

        By default every decision's strongest candidate (``supernet.export()``: the argmax of the
        logits and each cell's wiring by the DARTS rule). Algorithms whose paper selects otherwise
        override it (ENAS, SPOS); those score candidates, report each through ``on_candidate``
        and skip the ones in ``known`` (fingerprint -> score), drawing the same candidates as an
        uninterrupted selection would; those that :attr:`accepts_constraints` skip candidates
        ``constraint`` refuses.
        """
        return self.supernet.export()

    # The stand-alone re-check ----------------------------------------------------------------------
    #: What :meth:`rerank_candidates` ranks by, for the logs and the stored result.
    rerank_source: str = "the most probable architectures (log-probability)"

    def candidate_probabilities(self, label: str) -> torch.Tensor:
        """The probabilities the trained architecture parameters give ``label``'s candidates
        (softmax of the logits; DrNAS: the Dirichlet mean)."""
        return torch.softmax(self.supernet.arch.logits(label).detach().double(), -1)

    def likely_samples(self, k: int) -> list[tuple[Sample, float]]:
        """The ``k`` most probable distinct architectures under the trained architecture
        distribution (decisions independent, each by :meth:`candidate_probabilities`), with their
        log-probabilities, most probable first; the first is :meth:`Supernet.export`'s.

        Best-first search over the per-decision orderings: an assignment of a rank to every
        decision with logits is made a sample by the supernet's own export with those candidates
        made the strongest (their logits swapped with the argmax's, then restored), so a cell's
        wiring is derived from them by its rule (DARTS: the two strongest non-``none`` incoming
        edges). Exact k-best for plain choices; in a cell, assignments that differ only on edges
        the wiring leaves out are one network (counted once), and the wiring follows from the
        edges' strengths rather than being ranked itself."""
        arch = self.supernet.arch
        labels = list(arch.names)
        logp = [torch.log(self.candidate_probabilities(label).clamp_min(1e-300)).tolist() for label in labels]
        order = [sorted(range(len(lp)), key=lambda i, lp=lp: -lp[i]) for lp in logp]  # type: ignore[misc]

        def total(ranks: tuple[int, ...]) -> float:
            return sum(lp[o[r]] for lp, o, r in zip(logp, order, ranks))

        def sample_of(ranks: tuple[int, ...]) -> Sample:
            changed = [(arch.logits(label), o[0], o[r]) for label, o, r in zip(labels, order, ranks) if r]
            with torch.no_grad():
                for logits, top, other in changed:
                    logits[[top, other]] = logits[[other, top]]
                try:
                    return self.supernet.export()
                finally:
                    for logits, top, other in changed:
                        logits[[top, other]] = logits[[other, top]]

        start = tuple(0 for _ in labels)
        heap: list[tuple[float, tuple[int, ...]]] = [(-total(start), start)]
        pushed = {start}
        out: list[tuple[Sample, float]] = []
        seen: set[str] = set()
        pops = 0
        while heap and len(out) < k and pops < 1000 * k:  # the bound: a cell's many equal assignments
            neg, ranks = heapq.heappop(heap)
            pops += 1
            sample = sample_of(ranks)
            key = fingerprint(sample)
            if key not in seen:  # an inactive decision's value can make two assignments one network
                seen.add(key)
                out.append((sample, -neg))
            for j in range(len(labels)):
                if ranks[j] + 1 < len(order[j]):
                    nxt = ranks[:j] + (ranks[j] + 1,) + ranks[j + 1:]
                    if nxt not in pushed:
                        pushed.add(nxt)
                        heapq.heappush(heap, (-total(nxt), nxt))
        return out

    def rerank_candidates(self, k: int) -> list[tuple[Sample, float]]:
        """The candidates the stand-alone re-check trains, best first, with the supernet's score
        of each (higher is better). Default: :meth:`likely_samples`; SPOS the evolution's top,
        ENAS its final draws by reward."""
        return self.likely_samples(k)

    def distinct_networks(self, pool: list[tuple[Sample, float]], val_data: Iterable[Batch], k: int, *,
                          device: str | torch.device = "cpu") -> list[tuple[Sample, float]]:
        """The first ``k`` of ``pool`` that are different networks, in order.

        Many samples are one network: an op on an edge whose output nothing reads, a choice a
        condition makes inactive (on Fashion-201 the SPOS evolution's five best were once five
        label assignments of one cell, and a re-check trained it five times). Two samples are
        taken for one network when their subnets, with the supernet's weights, give the same
        output on the first validation batch (up to 64 inputs; equal to rtol 1e-4): a network's
        function, which its labels do not show. Isomorphic twins compute one function only with
        equal weights, which a supernet does not give them (each edge has its own), so samples
        whose space's :meth:`~archspace.nn.ModelSpace.equivalence_key` is equal (and not None)
        are one network too (the only test when there is no validation batch)."""
        probe: torch.Tensor | None = None
        for x, _ in val_data:
            probe = x[:64].to(device)
            break
        kept: list[tuple[Sample, float]] = []
        outputs: list[torch.Tensor] = []
        space = self.supernet.space[0]
        keys: set[Hashable] = set()
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            for sample, score in pool:
                key = space.equivalence_key(sample)
                if key is not None and key in keys:
                    continue
                if probe is not None:  # else no batch to compare functions on: the keys alone
                    model = self.supernet.subnet(sample)
                    model.eval()
                    out = model(probe)
                    out = (out[0] if isinstance(out, (tuple, list)) else out).detach().float()
                    if any(o.shape == out.shape and torch.allclose(o, out, rtol=1e-4, atol=1e-6) for o in outputs):
                        continue
                    outputs.append(out)
                kept.append((sample, score))
                if key is not None:
                    keys.add(key)
                if len(kept) == k:
                    break
        return kept

    def recheck(self, answer: Sample, train_data: Iterable[Batch], val_data: Iterable[Batch], *, loss_fn: LossFn,
                device: str | torch.device = "cpu") -> Sample:
        """The ``rerank`` step (called by :meth:`fit` after :meth:`select`): train each of
        :meth:`rerank_candidates` alone (:mod:`archspace.oneshot.rerank`) and answer with the
        best by validation score; :attr:`answer_score` becomes that score and
        :attr:`answer_details` holds both scores. Under torchrun rank 0's pick is every rank's."""
        assert self.rerank is not None
        top = self.rerank.top
        pool = self.rerank_candidates(RERANK_POOL * top)
        candidates = self.distinct_networks(pool, val_data, top, device=device)
        if len(candidates) < top and len(pool) == RERANK_POOL * top:  # one network under many labels: deeper
            logger.info("%s rerank: %d different networks among the %d most likely candidates; looking %d deep",
                        type(self).__name__, len(candidates), len(pool), RERANK_DEEP_POOL * top)
            pool = self.rerank_candidates(RERANK_DEEP_POOL * top)
            candidates = self.distinct_networks(pool, val_data, top, device=device)
        if not candidates:
            candidates = [(dict(answer), float(self.answer_score) if self.answer_score is not None else 0.0)]
        checked = rerank(self.supernet.space[0], candidates, train_data, val_data, settings=self.rerank,
                         loss_fn=loss_fn, metric=reward_metric(loss_fn, device), device=device)
        self.rerank_result = checked
        best, score, supernet_score = checked.ranked[0]
        details = {"standalone_score": score, "supernet_score": supernet_score, "reranked": len(checked.ranked),
                   "rerank_source": self.rerank_source, "selected_by": "standalone rerank",
                   "supernet_pick_rank": next(i for i, (s, _) in enumerate(candidates) if s == best)}
        logger.info("%s rerank: %d candidates (%s) trained alone in %.1f s; stand-alone scores %s, supernet's %s",
                    type(self).__name__, len(checked.ranked), self.rerank_source, checked.seconds,
                    [round(a, 4) for _, a, _ in checked.ranked], [round(i, 4) for _, _, i in checked.ranked])
        if is_distributed():  # rank 0's pick on every rank
            box: list[Any] = [best, score, details]
            dist.broadcast_object_list(box, src=0)
            best, score, details = dict(box[0]), float(box[1]), dict(box[2])
        self.answer_score = score
        self.answer_details = MappingProxyType(details)
        return dict(best)

    def export(self) -> Sample:
        """The search's answer: what :meth:`fit` returned, or before the search has finished, the
        supernet's current export (the strongest candidates)."""
        return dict(self.answer) if self.answer is not None else self.supernet.export()

    def _fit(self, space: ModelSpace | Supernet, train_data: Iterable[Batch], val_data: Iterable[Batch],
             loss_fn: LossFn, directory: str | os.PathLike[str] | None, device: str | torch.device, resume: bool,
             on_epoch: Callable[[dict[str, Any]], None] | None,
             annotate_epoch: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.build(space, device)
        self.answer = None
        self.answer_score = None
        self.answer_details = MappingProxyType({})
        self.rerank_result = None
        out = Path(directory) if directory is not None else None
        history: list[dict[str, Any]] = []
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            if resume and checkpoint_path(out).exists():
                history = self.load_checkpoint(checkpoint_path(out))
                logger.info("resumed from %s at epoch %d", checkpoint_path(out), self.epoch)
            elif resume:
                logger.warning("resume: no checkpoint at %s, so the search restarts from epoch 0", checkpoint_path(out))
        while self.epoch < self.total_epochs:
            epoch = self.epoch
            self.on_epoch_start(epoch)
            self.prepare_epoch(epoch, val_data, loss_fn=loss_fn, device=device)
            self.supernet.train()
            start = time.perf_counter()
            totals: dict[str, float] = {}
            steps = 0
            batches = self.epoch_pairs(train_data, val_data)
            bar = self._bar(epoch)
            for (xt, yt), (xv, yv) in batches:
                losses = self.step((xt.to(device), yt.to(device)), (xv.to(device), yv.to(device)), loss_fn)
                for k, v in losses.items():
                    totals[k] = totals.get(k, 0.0) + v
                steps += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({k: f"{v / steps:.3f}" for k, v in totals.items()})
            if bar is not None:
                bar.close()
            self.scheduler.step()
            self.epoch += 1
            record: dict[str, Any] = {"epoch": epoch, "seconds": time.perf_counter() - start, "steps": steps,
                      **{k: v / max(steps, 1) for k, v in totals.items()},
                      "sample": self.supernet.export(), "distribution": self.supernet.arch.distribution()}
            if annotate_epoch is not None and is_main():
                annotate_epoch(record)
            history.append(record)
            logger.info("epoch %d: %s; sample %s", epoch,
                        ", ".join(f"{k} {v / max(steps, 1):.4f}" for k, v in totals.items()), record["sample"])
            logger.info("epoch %d distribution (strongest candidate per decision): %s", epoch, "; ".join(
                f"{name}={max(probs, key=probs.__getitem__)}:{max(probs.values()):.2f}"
                for name, probs in record["distribution"].items()))
            if out is not None and is_main():
                write_history(out, history)
                epoch_sample_path(out, epoch).write_text(json.dumps(record["sample"], indent=2) + "\n")
                self.save_checkpoint(checkpoint_path(out), history)
            if on_epoch is not None and is_main():
                on_epoch(record)

    def _bar(self, epoch: int) -> Any:
        enabled = self.progress if self.progress is not None else os.isatty(2)
        if not enabled or not is_main():
            return None
        from tqdm import tqdm

        return tqdm(desc=f"{type(self).__name__} epoch {epoch + 1}/{self.total_epochs}", unit="step", leave=False)

    # Checkpoints ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Supernet weights, logits and every optimizer and schedule state."""
        return {"epoch": self.epoch, "weights": self.supernet.net.state_dict(),
                "arch": self.supernet.arch.state_dict(), "weight_optimizer": self.weight_optimizer.state_dict(),
                "arch_optimizer": self.arch_optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "policy": self.policy.state_dict(), **self.extra_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`build`)."""
        self.supernet.net.load_state_dict(state["weights"])
        self.supernet.arch.load_state_dict(state["arch"])
        self.weight_optimizer.load_state_dict(state["weight_optimizer"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if "policy" in state:
            self.policy.load_state_dict(state["policy"])
        self.load_extra_state(state)

    def extra_state(self) -> dict[str, Any]:
        """Algorithm-specific state to checkpoint."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    def save_checkpoint(self, path: Path, history: list[dict[str, Any]]) -> None:
        """Write a checkpoint atomically (a crash mid-write leaves the previous one)."""
        save_checkpoint(path, {**self.state_dict(), "history": history})

    def load_checkpoint(self, path: Path) -> list[dict[str, Any]]:
        """Restore a checkpoint (loaded with ``weights_only=True``); returns the history so far.

        Raises:
            CheckpointError: missing, damaged or unsafe file, or not a one-shot checkpoint.
        """
        return restore_checkpoint(path, self.load_state_dict, search=type(self).__name__, epochs=self.total_epochs)


__all__ = ["Batch", "Constraint", "LossFn", "OneShotTrainer", "P"]
