"""ENAS — Pham, Guan, Zoph, Le & Dean, "Efficient Neural Architecture Search via Parameter
Sharing", ICML 2018 (arXiv 1802.03268).

An LSTM controller (:class:`~archspace.controller.LSTMController`, the one PolicyBasedRL uses)
emits one sample of the space per draw; the supernet runs exactly that path
(:class:`ControllerPath`, which also picks the wiring of cells). Each :meth:`ENAS.step`
alternates the paper's two phases on one (training, validation) batch pair:

1. **Shared weights**: one path drawn from the controller, one SGD step of the cross-entropy on
   the training batch (the base trainer's ``weight_step``: clipping, cosine schedule, gradients
   averaged across ranks).
2. **Controller**: ``controller_steps`` paths drawn; each one's reward ``R`` is the supernet's
   accuracy on the validation batch along that path (``-loss`` when the output is not class
   logits), plus ``entropy_weight`` times the entropy of the draw. With the moving-average
   baseline ``b <- b - (1 - baseline_decay) (b - R)`` (updated before use, as the official
   code does) the loss is ``-(R - b) log p(path) + skip_weight * KL``, averaged over the paths,
   then one Adam step. ``KL`` is the paper's skip-connection penalty for macro search:
   ``KL(Bernoulli(p_skip) || Bernoulli(skip_target))`` summed over a layer's skip decisions and
   averaged over layers (the skip decisions are the ``{0, 1}`` decisions whose label ends in
   ``skip_<j>``, as :class:`~archspace.hub.EnasMacroSpace` names them); it pulls the skip rate
   toward ``skip_target`` (paper: 0.4, weight 0.8).

The reward is computed in training mode (batch statistics; the path's batch norms have no
running statistics of their own) without touching the running statistics.

**Derived architecture**: the paper's — after the search, ``final_draws`` paths are drawn from
the controller, each scored by its validation reward with the shared weights, and the best is
the answer (:meth:`ENAS.select` through :meth:`ENAS.best_of`; ``fit``'s return value,
:meth:`export` and, pinned, ``supernet.export()``). During the search the per-epoch
``arch_epoch_N.json`` holds the controller's most likely path (:meth:`ENAS.derive`, greedy
decoding: the argmax of every decision given the earlier ones; ``final_draws=0`` makes it the
answer): after every controller update the architecture logits are set to the controller's
log-probabilities along the greedy path (so ``distribution()`` shows them) and cells are pinned
to its wiring. Deviation: each final draw is scored on the whole validation data given, not on
one minibatch as in the paper (a less noisy choice at the cost of more forward passes).

Distributed (``torchrun``): every rank holds the same controller and the same generator, and the
rewards are averaged across ranks before use, so all ranks draw the same path at every step and
their controllers stay identical.

Deviations from the official code: one generic controller for every space (each decision one
LSTM step with its own head; the paper's macro controller scores skips by attention over earlier
layers, here each skip is a binary decision conditioned on everything drawn before); the skip
KL uses the probability the skip is actually drawn with; the baseline starts at the first reward
instead of 0; the two phases alternate per batch rather than per epoch (``controller_steps``
paths per batch; the paper trains the controller on 2000 paths after each epoch of ~400 weight
steps, i.e. ~5 per weight step).

``warmup_epochs`` (not in the paper; default 0) train only the shared weights first, each batch on
a path drawn uniformly over every decision (SPOS's uniform sampling, from the trainer's
checkpointed generator), and the controller learns only after them (the epochs are the trainer's
``epoch`` counter, which ``fit`` advances). Why: from the first step the controller is rewarded
by weights that have barely trained, and the paths that score well then are those with few
weights to learn (pooling, skips); the controller draws them more, so they train more and keep
scoring better. A warm-up lets every candidate's weights learn before the controller's first
reward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import distributed as dist
from torch import nn

from archspace.controller import LSTMController, Trace
from archspace.errors import ArchspaceError, MissingLabelError
from archspace.nn.space import ModelSpace
from archspace.oneshot._reward import accuracy_or_loss
from archspace.oneshot.buffers import kept_buffers
from archspace.oneshot.distributed import average_gradients, broadcast_parameters, is_distributed
from archspace.oneshot.loop import Batch, Constraint, LossFn, OneShotTrainer
from archspace.oneshot.policy import Mix
from archspace.oneshot.spos import SampledPath, uniform_path
from archspace.oneshot.supernet import Supernet
from archspace.space.labels import parse_skip_label
from archspace.space.samples import Sample, fingerprint


class ControllerPath(SampledPath):
    """The path a controller drew: every decision runs its sampled candidate, and cells run their
    sampled wiring (the cell decisions, which have no logits, are picked: :meth:`pick`).

    Args:
        sample: the path (a whole sample of the space); change it with :meth:`follow`.
        seed: seeds the generator that draws labels the sample lacks (a supernet's own labels,
            such as a cell's edge logits under a non-cell policy; ENAS's samples cover the space).
    """

    def pick(self, label: str, values: Sequence[Any]) -> Mix:
        """The sample's value of a cell decision ``label`` (a mix of its one index): the cell
        runs the path's own wiring, not a mix of its edges."""
        if self.sample is None or label not in self.sample:
            raise MissingLabelError(f"the controller's path has no value for {label!r}; "
                                    "follow() a whole sample of the space before running the supernet")
        value = self.sample[label]
        if value not in values:
            raise ArchspaceError(f"the path gives {label!r} the value {value!r}; allowed: {list(values)!r}")
        return Mix((list(values).index(value),), torch.ones(1))


class ENAS(OneShotTrainer[ControllerPath]):
    """ENAS search (see the module docstring); other arguments are :class:`OneShotTrainer`'s
    (the paper's shared weights: SGD, lr 0.05 cosine, momentum 0.9, weight decay 2.5e-4 (macro),
    gradient clip 5).

    Args:
        controller_learning_rate: Adam on the controller (official: 1e-3 macro, 3.5e-3 micro).
        entropy_weight: weight of the draw's entropy in the reward (official: 1e-4).
        baseline_decay: decay of the moving-average baseline (official: 0.99).
        skip_target, skip_weight: the skip-connection KL penalty (paper: 0.4 and 0.8); only
            decisions labelled ``.../skip_<j>`` with values {0, 1} count; 0 weight disables it.
        tanh_constant, temperature: controller logits become ``c * tanh(logits / T)`` (official:
            1.5 for macro, 1.1 and T=5 for micro; None: not applied).
        hidden_size: controller LSTM width (official: 64).
        controller_steps: paths scored per controller update (the official code aggregates 20).
        final_draws: paths drawn after the search, the best by validation reward being the
            answer (the paper's selection; 0: the greedy path).
        warmup_epochs: epochs of shared-weight training alone, on uniformly drawn paths, before
            the controller's first update (not in the paper; see the module docstring).

    Example:
        >>> import torch
        >>> from archspace.oneshot import ENAS
        >>> from archspace.testing import SharedNet
        >>> data = [(torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> sample = ENAS(epochs=1, progress=False).fit(SharedNet(), data, data)
        >>> sorted(sample)
        ['act', 'width']
    """

    def __init__(self, *, controller_learning_rate: float = 1e-3, entropy_weight: float = 1e-4,
                 baseline_decay: float = 0.99, skip_target: float = 0.4, skip_weight: float = 0.8,
                 tanh_constant: float | None = 1.5, temperature: float | None = None, hidden_size: int = 64,
                 controller_steps: int = 1, final_draws: int = 10, warmup_epochs: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("learning_rate", 0.05)
        kwargs.setdefault("weight_decay", 2.5e-4)
        kwargs.setdefault("min_learning_rate", 5e-4)
        super().__init__(**kwargs)
        if not 0 < skip_target < 1:
            raise ArchspaceError(f"ENAS skip_target must be in (0, 1), got {skip_target!r}")
        if not 0 <= baseline_decay < 1:
            raise ArchspaceError(f"ENAS baseline_decay must be in [0, 1), got {baseline_decay!r}")
        if isinstance(controller_steps, bool) or not isinstance(controller_steps, int) or controller_steps < 1:
            raise ArchspaceError(f"ENAS controller_steps must be a positive int, got {controller_steps!r}")
        self.controller_learning_rate = controller_learning_rate
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.skip_target = skip_target
        self.skip_weight = skip_weight
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        self.hidden_size = hidden_size
        self.controller_steps = controller_steps
        if isinstance(final_draws, bool) or not isinstance(final_draws, int) or final_draws < 0:
            raise ArchspaceError(f"ENAS final_draws must be an int >= 0, got {final_draws!r}")
        self.final_draws = final_draws
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or \
                (warmup_epochs != 0 and not 0 <= warmup_epochs < self.epochs):
            raise ArchspaceError(f"ENAS warmup_epochs must be an integer in [0, epochs={self.epochs}), got {warmup_epochs!r}")
        self.warmup_epochs = warmup_epochs
        #: the distinct final draws with their rewards, best first (after :meth:`best_of`)
        self.final_scores: list[tuple[Sample, float]] = []

    # Set up ---------------------------------------------------------------------------------------
    def make_policy(self) -> ControllerPath:
        return ControllerPath(seed=self.seed)

    def build(self, space: ModelSpace | Supernet, device: str | torch.device = "cpu") -> Supernet:
        """The supernet, its optimizers, and the controller over the space's decisions (on the CPU:
        it is small, and its draws are plain values)."""
        supernet = super().build(space, device)
        decisions = supernet.space[0].search_space()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.controller = LSTMController(decisions, hidden_size=self.hidden_size,
                                             temperature=self.temperature, tanh_constant=self.tanh_constant)
        broadcast_parameters(self.controller)
        self.controller_optimizer = torch.optim.Adam(self.controller.parameters(), lr=self.controller_learning_rate)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.decision_values = {label: list(decision.values) for label, decision in decisions.items()}
        self.baseline: float | None = None
        self.skip_labels = [label for label in decisions if parse_skip_label(label) is not None
                            and list(decisions[label].values) == [0, 1]]
        self.sync_export()
        return supernet

    # The two phases -------------------------------------------------------------------------------
    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        if self.epoch < self.warmup_epochs:  # the shared weights alone, on a uniform path
            self.follow(self.supernet.space[0].validate(uniform_path(self.decision_values, self.generator)))
            return {"train_loss": self.weight_step(train, loss_fn)}
        with torch.no_grad():
            path = self.controller.trace(generator=self.generator).sample
        self.follow(path)
        train_loss = self.weight_step(train, loss_fn)
        stats = self.controller_step(val, loss_fn)
        return {"train_loss": train_loss, **stats}

    def follow(self, sample: Mapping[str, Any]) -> None:
        """Run ``sample``'s path (including the wiring of cells) from the next pass on."""
        self.policy.follow(sample)

    def reward(self, sample: Sample, val: Batch, loss_fn: LossFn) -> float:
        """The path's validation reward (accuracy, or ``-loss``), averaged across ranks."""
        xv, yv = val
        self.follow(sample)
        with torch.no_grad(), kept_buffers(self.supernet):
            value = accuracy_or_loss(self.supernet(xv), yv, loss_fn)
        if is_distributed():
            total = torch.tensor([value], dtype=torch.float64)
            dist.all_reduce(total)
            value = float(total) / dist.get_world_size()
        return value

    def skip_penalty(self, trace: Trace) -> torch.Tensor:
        """KL(Bernoulli(p_skip) || Bernoulli(skip_target)), summed per layer, averaged over layers."""
        per_layer: dict[str, torch.Tensor] = {}
        target = torch.tensor([1 - self.skip_target, self.skip_target])
        for label in self.skip_labels:
            probs = trace.probs.get(label)
            if probs is None:
                continue
            kl = (probs * (probs.clamp_min(1e-12).log() - target.log())).sum()
            skip = parse_skip_label(label)
            layer = skip.layer if skip is not None else ""
            per_layer[layer] = per_layer[layer] + kl if layer in per_layer else kl
        if not per_layer:
            return torch.zeros(())
        return torch.stack(list(per_layer.values())).mean()

    def controller_step(self, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        """One REINFORCE update of the controller on ``controller_steps`` paths scored on ``val``."""
        self.controller.train()
        losses, rewards, skips = [], [], []
        for _ in range(self.controller_steps):
            trace = self.controller.trace(generator=self.generator)
            reward = self.reward(trace.sample, val, loss_fn) + self.entropy_weight * float(trace.entropy.detach())
            baseline = reward if self.baseline is None else self.baseline
            baseline -= (1 - self.baseline_decay) * (baseline - reward)
            self.baseline = baseline
            loss = -(reward - baseline) * trace.log_prob
            if self.skip_weight and self.skip_labels:
                loss = loss + self.skip_weight * self.skip_penalty(trace)
                skips.append(sum(int(trace.sample[label]) for label in self.skip_labels) / len(self.skip_labels))
            losses.append(loss)
            rewards.append(reward)
        self.controller_optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).mean().backward()
        average_gradients(list(self.controller.parameters()))
        self.controller_optimizer.step()
        self.sync_export()
        stats = {"reward": sum(rewards) / len(rewards), "baseline": float(self.baseline or 0.0)}
        if skips:
            stats["skip_rate"] = sum(skips) / len(skips)
        return stats

    # The derived architecture ---------------------------------------------------------------------
    def derive(self) -> Sample:
        """The controller's most likely path (greedy decoding), validated against the space."""
        with torch.no_grad():
            sample = self.controller.greedy().sample
        return self.supernet.space[0].validate(sample)

    def sync_export(self) -> None:
        """Make ``supernet.export()`` return :meth:`derive`: the architecture logits become the
        controller's log-probabilities along the greedy path, and every cell is pinned to its wiring."""
        with torch.no_grad():
            trace = self.controller.greedy()
            arch = self.supernet.arch
            for label, probs in trace.probs.items():
                if label in arch.names:
                    arch.logits(label).copy_(probs.clamp_min(1e-12).log().to(arch.logits(label)))
        for cell in self.supernet.cells:
            cell.pin(cell.wiring_of(trace.sample))
        self.follow(trace.sample)

    def select(self, train_data: Iterable[Batch], val_data: Iterable[Batch], *, loss_fn: LossFn,
               device: str | torch.device = "cpu", on_candidate: Callable[[Sample, float], None] | None = None,
               known: Mapping[str, float] | None = None, constraint: Constraint | None = None) -> Sample:
        """The best of ``final_draws`` controller draws by validation reward (the greedy path if 0).
        ENAS takes no ``constraint`` (:meth:`fit` refuses one)."""
        self.final_scores = []
        if self.final_draws == 0:
            return self.derive()
        sample, self.answer_score = self.best_of(val_data, self.final_draws, loss_fn=loss_fn, device=device,
                                                 on_candidate=on_candidate, known=known)
        return sample

    def best_of(self, val_data: Iterable[Batch], n: int = 10, *, loss_fn: LossFn = nn.functional.cross_entropy,
                device: str | torch.device = "cpu", on_candidate: Callable[[Sample, float], None] | None = None,
                known: Mapping[str, float] | None = None) -> tuple[Sample, float]:
        """The paper's selection: draw ``n`` paths, score each on the validation batches with the
        shared weights (mean reward), return the best with its score. Draws from the trainer's
        generator (it is part of the checkpointed state, so a resumed search draws the same paths).

        ``on_candidate(sample, score)`` hears of each distinct path scored; paths whose
        fingerprint is in ``known`` take that score instead of being scored again."""
        batches = [(x.to(device), y.to(device)) for x, y in val_data]
        if not batches:
            raise ArchspaceError("best_of needs at least one validation batch")
        best: tuple[Sample, float] | None = None
        scored: dict[str, float] = dict(known or {})
        drawn: dict[str, tuple[Sample, float]] = {}
        for _ in range(n):
            with torch.no_grad():
                sample = self.supernet.space[0].validate(self.controller.trace(generator=self.generator).sample)
            key = fingerprint(sample)
            if key not in scored:
                scored[key] = sum(self.reward(sample, batch, loss_fn) for batch in batches) / len(batches)
                if on_candidate is not None:
                    on_candidate(sample, scored[key])
            score = scored[key]
            drawn.setdefault(key, (sample, score))
            if best is None or score > best[1]:
                best = (sample, score)
        assert best is not None
        self.final_scores = sorted(drawn.values(), key=lambda item: -item[1])  # stable: ties in draw order
        self.sync_export()
        return best

    rerank_source = "the final draws (shared-weight reward)"

    def rerank_candidates(self, k: int) -> list[tuple[Sample, float]]:
        """The ``k`` best distinct final draws by their shared-weight reward (with
        ``final_draws=0``: the most probable architectures, as every trainer)."""
        return self.final_scores[:k] if self.final_scores else self.likely_samples(k)

    # Checkpoints ----------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict(), "controller_optimizer": self.controller_optimizer.state_dict(),
                "controller_generator": self.generator.get_state(),
                "baseline": torch.tensor(float("nan") if self.baseline is None else self.baseline, dtype=torch.float64)}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.controller_optimizer.load_state_dict(state["controller_optimizer"])
        self.generator.set_state(state["controller_generator"])
        baseline = float(state["baseline"])
        self.baseline = None if baseline != baseline else baseline
        self.sync_export()


__all__ = ["ENAS", "ControllerPath"]
