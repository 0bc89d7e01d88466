"""ProxylessNAS: binarised path gates and a hardware term in the architecture loss.

Cai, Zhu & Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware"
(ICLR 2019, arXiv 1812.00332), section 3.2 (binarised paths, the two-path gradient) and 3.3
(the expected latency). Each decision keeps logits ``alpha`` and probabilities ``p = softmax(alpha)``;
its gates are binary, so only sampled paths run and memory stays at the level of training one model.

**Weight step** (on a training batch): one path per decision, drawn from ``p``, runs with gate 1;
only it computes and gets gradients (:class:`BinaryGates` with ``paths=1``).

**Architecture step** (on a validation batch, ``paths=2``): two candidates ``a, b`` are drawn
without replacement from ``p``, their probabilities renormalised, ``q = softmax(alpha_a, alpha_b)``,
and one of the two drawn from ``q`` becomes the active gate ``g`` (one-hot over the pair). Both
paths run, ``out = g_a o_a + g_b o_b``, and the gradient reaches the logits by the paper's estimator
``dL/dalpha_i = sum_j dL/dg_j q_j (delta_ij - q_i)`` over the pair, with ``dL/dg_j = <dL/dout, o_j>``
(straight-through gates ``g = onehot + q - q.detach()``). Then, for every decision, the pair's
updated logits are shifted by one offset so that ``exp(alpha_a) + exp(alpha_b)`` is what it was
before the step (:meth:`ProxylessNAS.rescale`): the probabilities of the candidates that were not
sampled stay exactly as they were, as in the paper's code. (The paper's defaults — Adam with
``beta1 = 0`` and no weight decay on the logits — leave the unsampled logits untouched; momentum
or decay there would move them.)

**The official code's default estimator** (``binary_mode="full"``; its ``--grad_binary_mode
full_v2``, the default of ``search/imagenet_arch_search.py``, where the paper's two-path mode is
``two``): one active path drawn from ``p``; every candidate's output is computed on the same input
for ``dL/dg_j = <dL/dout, o_j>``, and the gradient is the estimator over all candidates,
``dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i)`` (gates ``g = onehot + p - p.detach()`` over all
of them); no rescaling (the official code rescales in ``two`` mode only). It costs every
candidate's forward in the architecture step instead of two, and the estimate compares each
candidate with all others rather than with one drawn rival.

**Hardware term** (:class:`~archspace.oneshot.latency_loss.LatencyLoss`): the expected latency
``E[LAT] = fixed + sum_l sum_j p_lj F(o_lj)`` of a latency table
(:meth:`archspace.hardware.latency.LatencyTable.expected_latency` under every decision's softmax,
differentiable in all logits), combined with the cross-entropy of the step:

- ``"mul"``: ``CE * (E[LAT] / target) ** beta`` is ``LatencyLoss(table, mode="mul", log=False,
  alpha=1, beta=beta, target_ms=target)``; the paper's code's ``mul#log``,
  ``CE * alpha * (log E[LAT] / log target) ** beta`` (alpha 0.2, beta 0.3), is ``log=True``;
- ``"add"``: ``CE + lambda * E[LAT]`` is ``LatencyLoss(table, mode="add", alpha=lambda, beta=1,
  target_ms=1.0)`` (latency in ms), ``target_ms=T`` normalises by the target as ``add#linear`` does.

**Memory.** The weight step runs one path, as a plain model would. The architecture step must
run two, but the inactive path's gate is 0, so all it contributes is its output (for
``dL/dg = <dL/dout, o>``); the paper's code keeps only the active path's graph and recomputes the
other's output. Here, by default (``recompute_arch=True``), the architecture step runs every mixed
op under activation checkpointing (the supernet's exact ``checkpoint_ops`` saving, switched on
for that step only): each op keeps its input and recomputes its two paths in the backward pass,
so the step's peak stays near one path's.

Deviations: updates alternate once per training batch (weights, then the logits every
``arch_every`` batches, the paper's code: every 5), after ``warmup_epochs`` of weight training alone
(the paper's code: 40 of 160 epochs), both defaulting to the eager setting (1 and 0) for short
runs; no Nesterov momentum. The official code makes no architecture step in the first epoch
(``warmup_epochs=1`` here).

**Zero-op skip** (``skip_zero_active=True``; the official code's ``MixedEdge.set_arch_param_grad``):
in an architecture step whose active path of a decision is a zero (``none``) candidate, that
decision's logits get no gradient and stay as they are (their gradient is set to None, so Adam
leaves them and its moments alone). With a zero op active, every rival's ``dL/dg = <dL/dout, o>``
measures adding an op the rest of the network was not running with; the skip lets ``none`` gain or
lose only on steps where a real op runs. A decision's zero candidates are its LayerChoice's
(``MixedLayer.zero_indices``: candidates named ``none``/``zero`` without parameters, or marked
``zero_output``); value choices have none. Off by default, which keeps the earlier behaviour:
on Fashion-201 it did not stop the collapse to ``none`` (every seed ended with ``none`` on five of
six edges; README), since ``none``'s own gate gradient is always 0 and it gains whenever a real
op's ``dL/dg`` is positive.
Under ``torchrun`` every rank starts from rank 0's gate generator, so
all ranks draw the same gates at every step. In evaluation mode the supernet runs each
decision's strongest candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from archspace.errors import SpaceDefinitionError
from archspace.nn.space import ModelSpace
from archspace.oneshot.distributed import average_gradients, broadcast_buffers, is_distributed
from archspace.oneshot.latency_loss import LatencyLoss, LatencyLossError
from archspace.oneshot.loop import Batch, LossFn, OneShotTrainer
from archspace.oneshot.mixed_ops import MixedLayer
from archspace.oneshot.policy import Mix, WeightingPolicy
from archspace.oneshot.supernet import Supernet


class BinaryGates(WeightingPolicy):
    """Binary gates over each decision's candidates (see the module docstring).

    Args:
        paths: 1 (weight step), 2 (architecture step, the paper's two paths) or "all" (the
            architecture step of the official code's default: every candidate runs, one gate
            active); change it between steps.
        seed: seeds this policy's own generator, saved in :meth:`state_dict`.

    The candidates a pass ran are its mixes' ``indices`` (:meth:`Supernet.run
    <archspace.oneshot.Supernet.run>` returns them with the output).
    """

    def __init__(self, paths: int | str = 1, *, seed: int = 0) -> None:
        if isinstance(paths, bool) or paths not in (1, 2, "all"):
            raise SpaceDefinitionError(f"BinaryGates runs 1, 2 or 'all' paths per decision, got paths={paths!r}")
        self.paths = paths
        #: Recompute every mixed op's candidates in the backward pass of the passes it weighs
        #: (set by ProxylessNAS around its architecture step; carried to the ops by each Mix).
        self.recompute = False
        self.generator = torch.Generator().manual_seed(seed)

    def mix(self, label: str, logits: torch.Tensor, values: Sequence[Any], *, training: bool) -> Mix:
        if not training:  # evaluation: the strongest path, drawing nothing
            return Mix((int(logits.detach().argmax()),), logits.detach().new_ones(1))
        probs = torch.softmax(logits.detach().float().cpu(), -1)
        if self.paths == 1 or len(values) == 1:
            index = int(torch.multinomial(probs, 1, generator=self.generator))
            return Mix((index,), logits.detach().new_ones(1), recompute=self.recompute)
        if self.paths == "all":  # one active gate drawn from p; every candidate runs for its dL/dg
            active = int(torch.multinomial(probs, 1, generator=self.generator))
            soft = torch.softmax(logits, -1)
            gates = torch.zeros_like(soft)
            gates[active] = 1.0
            return Mix(tuple(range(len(values))), gates + soft - soft.detach(), recompute=self.recompute)
        pair = torch.multinomial(probs, 2, replacement=False, generator=self.generator).sort().values
        indices = (int(pair[0]), int(pair[1]))
        sub = torch.softmax(logits[list(indices)], -1)
        active = int(torch.multinomial(sub.detach().float().cpu(), 1, generator=self.generator))
        gates = torch.zeros_like(sub)
        gates[active] = 1.0
        return Mix(indices, gates + sub - sub.detach(), recompute=self.recompute)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "paths": self.paths}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        paths = state["paths"]
        self.paths = paths if paths == "all" else int(paths)


class ProxylessNAS(OneShotTrainer[BinaryGates]):
    """ProxylessNAS search (see the module docstring).

    Args:
        latency: the hardware term of the architecture loss, e.g.
            ``LatencyLoss(table, mode="mul", log=False, alpha=1.0, beta=0.3, target_ms=2.0)``;
            None: cross-entropy alone.
        warmup_epochs: epochs that train only the weights first (paper's code: 40).
        arch_every: one architecture step every this many training batches (paper's code: 5).
        recompute_arch: recompute the two paths of each mixed op in the architecture step's
            backward pass instead of keeping their activations (same values and gradients; about
            one more forward of the mixed ops per architecture step, for far less memory).
        binary_mode: the architecture step's estimator: "two" (the paper's two sampled paths,
            then the rescaling) or "full" (the official code's default ``full_v2``: every
            candidate's gate gradient, one active path; see the module docstring).
        skip_zero_active: leave a decision's logits alone in an architecture step whose active
            path is its zero (``none``) candidate, as the official code does (module docstring).
        arch_learning_rate, arch_betas, arch_weight_decay: Adam on the logits; the paper's code's
            1e-3, (0, 0.999) and 0 by default.
        weight_decay: of the weights' SGD (paper's code: 4e-5).
        **kwargs: the other :class:`~archspace.oneshot.OneShotTrainer` settings (``learning_rate``
            0.025 is the paper's code's too).

    Example:
        >>> import torch
        >>> from archspace.hub import ProxylessNASSpace
        >>> data = [(torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))] * 2
        >>> sample = ProxylessNAS(epochs=1, progress=False).fit(ProxylessNASSpace.small(), data, data)
        >>> sorted(sample)
        ['stage0_block0', 'stage1_block0', 'stage1_block1']
    """

    def __init__(self, *, latency: LatencyLoss | None = None, warmup_epochs: int = 0, arch_every: int = 1,
                 recompute_arch: bool = True, binary_mode: str = "two", skip_zero_active: bool = False,
                 arch_learning_rate: float = 1e-3, arch_betas: tuple[float, float] = (0.0, 0.999),
                 arch_weight_decay: float = 0.0, weight_decay: float = 4e-5, **kwargs: Any) -> None:
        super().__init__(arch_learning_rate=arch_learning_rate, arch_betas=arch_betas,
                         arch_weight_decay=arch_weight_decay, weight_decay=weight_decay, **kwargs)
        if latency is not None and not isinstance(latency, LatencyLoss):
            raise LatencyLossError(f"latency must be a LatencyLoss, got {type(latency).__name__}")
        for name, value, least in (("warmup_epochs", warmup_epochs, 0), ("arch_every", arch_every, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"ProxylessNAS {name} must be an int >= {least}, got {value!r}")
        if binary_mode not in ("two", "full"):
            raise ValueError(f"ProxylessNAS binary_mode must be 'two' (the paper's two paths) or 'full' (every "
                             f"candidate's gate gradient, the official code's full_v2), got {binary_mode!r}")
        self.binary_mode = binary_mode
        if not isinstance(skip_zero_active, bool):
            raise ValueError(f"ProxylessNAS skip_zero_active must be True or False, got {skip_zero_active!r}")
        self.skip_zero_active = skip_zero_active
        #: label -> candidate positions that are zero ops in every LayerChoice of that label
        self._zero: dict[str, frozenset[int]] = {}
        self.latency = latency
        self.warmup_epochs = warmup_epochs
        self.arch_every = arch_every
        self.recompute_arch = recompute_arch
        self._batch = 0
        self._last: dict[str, float] = {}
        #: The mixes of the latest architecture step's pass (label -> Mix: its sampled pair in
        #: ``indices``, its gates in ``weights``); empty before the first architecture step.
        self.last_arch_draw: Mapping[str, Mix] = {}

    def make_policy(self) -> BinaryGates:
        return BinaryGates(paths=1, seed=self.seed)

    def build(self, space: ModelSpace | Supernet, device: str | torch.device = "cpu") -> Supernet:
        supernet = super().build(space, device)
        if self.latency is not None:
            self.latency.check(supernet.arch.names)
        self._zero = self.zero_candidates(supernet)
        if is_distributed():  # every rank draws rank 0's gates, whatever seed it was given
            from torch import distributed as dist

            state = [self.policy.generator.get_state()]
            dist.broadcast_object_list(state, src=0)
            self.policy.generator.set_state(state[0])
        return supernet

    @staticmethod
    def zero_candidates(supernet: Supernet) -> dict[str, frozenset[int]]:
        """Each decision's zero candidates: those that are zero ops in every LayerChoice of its
        label (value choices and input choices have none)."""
        found: dict[str, frozenset[int]] = {}
        for module in supernet.mixed_modules():
            if isinstance(module, MixedLayer):
                found[module.name] = found.get(module.name, module.zero_indices) & module.zero_indices
        return {label: zeros for label, zeros in found.items() if zeros}

    def on_epoch_start(self, epoch: int) -> None:
        self._batch = 0
        self._last = {}

    # Latency ------------------------------------------------------------------------------------------
    def probabilities(self) -> dict[str, torch.Tensor]:
        """Every decision's softmax, differentiable in its logits."""
        arch = self.supernet.arch
        return {label: torch.softmax(arch.logits(label), -1) for label in arch.names}

    def expected_latency(self) -> torch.Tensor:
        """The latency table's expected latency (ms) under the current probabilities (differentiable).

        Raises:
            LatencyLossError: the trainer has no latency term.
        """
        if self.latency is None:
            raise LatencyLossError("expected_latency needs a latency term: ProxylessNAS(latency=LatencyLoss(table))")
        probs = self.probabilities()
        return self.latency.latency({label: probs[label] for label in self.latency.labels()})

    # Steps --------------------------------------------------------------------------------------------
    def step(self, train: Batch, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        """A weight step on ``train`` (one path), then, when due, an architecture step on ``val``.

        Between architecture steps the architecture losses reported are the latest ones, so an
        epoch's mean stays a mean over architecture steps.
        """
        self.policy.paths = 1
        losses = {"train_loss": self.weight_step(train, loss_fn)}
        if self.epoch >= self.warmup_epochs and self._batch % self.arch_every == 0:
            self._last = self.arch_step(val, loss_fn)
        self._batch += 1
        return {**losses, **self._last}

    def arch_step(self, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        """One architecture update on a validation batch with two paths per decision, then the
        rescaling (``binary_mode="full"``: every path, no rescaling); returns the losses."""
        policy = self.policy
        policy.paths = 2 if self.binary_mode == "two" else "all"
        policy.recompute = self.recompute_arch  # each Mix tells its op (the backward pass recomputes)
        try:
            self.arch_optimizer.zero_grad(set_to_none=True)
            xv, yv = val
            output, drawn = self.supernet.run(xv)
            self.last_arch_draw = drawn
            task = loss_fn(output, yv)
            loss = task
            out: dict[str, float] = {"val_loss": float(task.detach())}
            if self.latency is not None:
                latency = self.expected_latency()
                loss = self.latency.combine(task, latency)
                out.update(latency_ms=float(latency.detach()), arch_loss=float(loss.detach()))
            self.arch_backward(loss)
            policy.recompute = False
            average_gradients(list(self.supernet.arch_parameters()))
            if self.skip_zero_active:
                self.skip_zero_decisions(drawn)
            before = self.pair_logits(drawn) if self.binary_mode == "two" else {}
            self.arch_optimizer.step()
            self.rescale(before)
            broadcast_buffers(self.supernet)  # the pass updated batch-norm statistics on each rank's data
        finally:
            policy.paths = 1
            policy.recompute = False
        return out

    def skip_zero_decisions(self, drawn: Mapping[str, Mix]) -> list[str]:
        """Drop the logits' gradient of every decision whose active path in ``drawn`` is a zero
        candidate (the optimizer then leaves them alone); returns those labels."""
        skipped = []
        for label, mix in drawn.items():
            zeros = self._zero.get(label)
            if zeros and len(mix.indices) > 1 and mix.indices[int(mix.weights.detach().argmax())] in zeros:
                self.supernet.arch.logits(label).grad = None
                skipped.append(label)
        return skipped

    def pair_logits(self, drawn: Mapping[str, Mix]) -> dict[str, tuple[list[int], torch.Tensor]]:
        """For each decision that ran two paths in the pass whose mixes are ``drawn``: their
        indices and logits now."""
        arch = self.supernet.arch
        return {label: (list(mix.indices), arch.logits(label).detach()[list(mix.indices)].clone())
                for label, mix in drawn.items() if len(mix.indices) == 2}

    @torch.no_grad()
    def rescale(self, before: Mapping[str, tuple[list[int], torch.Tensor]]) -> None:
        """Shift each sampled pair's logits so their summed ``exp`` is what it was in ``before``:
        the step then only redistributes the pair's probability between its two paths."""
        arch = self.supernet.arch
        for label, (pair, old) in before.items():
            logits = arch.logits(label)
            new = logits[pair]
            logits[pair] = new - (torch.logsumexp(new, 0) - torch.logsumexp(old, 0))

    # Checkpoints ----------------------------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {"proxyless_batch": self._batch}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self._batch = int(state.get("proxyless_batch", 0))


__all__ = ["BinaryGates", "ProxylessNAS"]
