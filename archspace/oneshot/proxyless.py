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

**The REINFORCE update** (``arch_algo="rl"``; the paper's section 3.3.2 and its CIFAR-10
"Proxyless-R", the official code's ``--arch_algo rl``, ``RLArchSearchConfig`` and
``rl_update_step``): the architecture step draws ``rl_batch_size`` (official: 10) single-path
networks from ``p`` and scores each by its top-1 accuracy on the one validation batch, in training
mode and without gradients (``-loss`` when the output is not class logits); with a latency term the
reward is MnasNet's ``acc * (target / LAT(path)) ** rl_tradeoff`` (official ``rl_tradeoff_ratio``
0.1; ``LAT`` the table's latency of the drawn path, ``target`` the term's ``target_ms``; a
``-loss`` reward is divided by the factor, so slower still scores lower). The baseline moves toward
the draws' mean reward by the official code's rule ``b <- b + w (mean R - b)``, ``w =
rl_baseline_weight`` (its ``rl_baseline_decay_weight``, 0.99, which weighs the *new* mean, so ``b``
is nearly that mean; the first update sets ``b`` to it), and the logits take one Adam step on
``-mean_j (R_j - b) log p(path_j)``: each decision's gradient is ``-mean_j (R_j - b)
(onehot(drawn_j) - p)``. Every candidate is judged by the accuracy of whole networks it ran in, not
by ``dL/dg = <dL/dout, o>``, so the pull toward ``none`` of the gate gradients (whose own ``dL/dg``
is always 0; README) does not arise. Deviations: the reward passes leave the batch-norm running
statistics as they were (the official code's training-mode passes update them; as ENAS here); the
updates come every ``arch_every`` batches (the official 300 per epoch of 4,809 batches is one per
16). The gradient mode's ``binary_mode``, rescaling and activation recomputation do not apply to
it, and its zero-op skip is refused. Under ``torchrun`` the rewards are averaged across ranks.

Under ``torchrun`` every rank starts from rank 0's gate generator, so
all ranks draw the same gates at every step. In evaluation mode the supernet runs each
decision's strongest candidate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import distributed as dist

from archspace.errors import SpaceDefinitionError
from archspace.nn.space import ModelSpace
from archspace.oneshot._reward import accuracy_or_loss
from archspace.oneshot.buffers import kept_buffers
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
        arch_algo: "grad" (the gradient of the binary gates, ``binary_mode``) or "rl" (the
            paper's REINFORCE update, its "Proxyless-R"; module docstring).
        rl_batch_size: with ``arch_algo="rl"``, networks drawn and scored per update (official: 10).
        rl_baseline_weight: with "rl", the weight of the draws' mean reward in the baseline's
            update ``b <- b + w (mean R - b)`` (official: 0.99).
        rl_tradeoff: with "rl" and a latency term, the exponent of ``target / LAT`` in the reward
            (official: 0.1).
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
                 arch_weight_decay: float = 0.0, weight_decay: float = 4e-5, arch_algo: str = "grad",
                 rl_batch_size: int = 10, rl_baseline_weight: float = 0.99, rl_tradeoff: float = 0.1,
                 **kwargs: Any) -> None:
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
        if arch_algo not in ("grad", "rl"):
            raise ValueError(f"ProxylessNAS arch_algo must be 'grad' (the binary gates' gradient) or 'rl' (the "
                             f"paper's REINFORCE update), got {arch_algo!r}")
        if arch_algo == "rl" and skip_zero_active:
            raise ValueError("ProxylessNAS skip_zero_active applies to arch_algo='grad' only (a REINFORCE update "
                             "has no gate gradient to skip); drop it or use arch_algo='grad'")
        if isinstance(rl_batch_size, bool) or not isinstance(rl_batch_size, int) or rl_batch_size < 1:
            raise ValueError(f"ProxylessNAS rl_batch_size must be an int >= 1 (networks per update), got "
                             f"{rl_batch_size!r}")
        for name, number in (("rl_baseline_weight", rl_baseline_weight), ("rl_tradeoff", rl_tradeoff)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number <= (
                    1 if name == "rl_baseline_weight" else math.inf):
                allowed = "in [0, 1]" if name == "rl_baseline_weight" else "a number >= 0"
                raise ValueError(f"ProxylessNAS {name} must be {allowed}, got {number!r}")
        if arch_algo == "rl" and latency is not None and latency.target_ms is None:
            raise LatencyLossError("ProxylessNAS arch_algo='rl' with a latency term rewards acc * (target / LAT) ** "
                                   "rl_tradeoff: give the LatencyLoss a target_ms")
        self.arch_algo = arch_algo
        self.rl_batch_size = rl_batch_size
        self.rl_baseline_weight = float(rl_baseline_weight)
        self.rl_tradeoff = float(rl_tradeoff)
        #: the REINFORCE baseline (None before the first ``arch_algo="rl"`` update)
        self.rl_baseline: float | None = None
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
        rescaling (``binary_mode="full"``: every path, no rescaling; ``arch_algo="rl"``: the
        REINFORCE update of :meth:`rl_step`); returns the losses."""
        if self.arch_algo == "rl":
            return self.rl_step(val, loss_fn)
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

    def rl_reward(self, output: Any, target: torch.Tensor, drawn: Mapping[str, Mix], loss_fn: LossFn,
                  latency: float | None = None) -> float:
        """A drawn network's reward: its accuracy on the batch (averaged across ranks), times
        ``(target / LAT) ** rl_tradeoff`` with a latency term (a negative ``-loss`` reward is
        divided by it instead, so that a slower network still scores lower). ``latency``: the
        path's, when the caller has it (else looked up)."""
        reward = accuracy_or_loss(output, target, loss_fn)
        if is_distributed():
            total = torch.tensor([reward], dtype=torch.float64)
            dist.all_reduce(total)
            reward = float(total) / dist.get_world_size()
        if self.latency is not None:
            latency = self.path_latency(drawn) if latency is None else latency
            assert self.latency.target_ms is not None  # checked in __init__
            factor = (self.latency.target_ms / max(latency, 1e-9)) ** self.rl_tradeoff
            # a -loss reward (not class logits) is negative: dividing keeps "slower is worse"
            reward = reward * factor if reward >= 0 else reward / factor
        return reward

    def path_latency(self, drawn: Mapping[str, Mix]) -> float:
        """The latency table's latency (ms) of the single path in ``drawn`` (label -> Mix).

        Raises:
            LatencyLossError: the trainer has no latency term.
        """
        if self.latency is None:
            raise LatencyLossError("path_latency needs a latency term: ProxylessNAS(latency=LatencyLoss(table))")
        arch = self.supernet.arch
        hot = {}
        for label in self.latency.labels():
            weights = torch.zeros(len(arch.logits(label)))
            weights[drawn[label].indices[0]] = 1.0
            hot[label] = weights
        return float(self.latency.latency(hot))

    def rl_step(self, val: Batch, loss_fn: LossFn) -> dict[str, float]:
        """The paper's REINFORCE update (module docstring): ``rl_batch_size`` single-path networks
        drawn from the current probabilities, scored on ``val``, one Adam step of the logits."""
        policy = self.policy
        policy.paths = 1
        xv, yv = val
        rewards: list[float] = []
        paths: list[dict[str, int]] = []
        latencies: list[float] = []
        for _ in range(self.rl_batch_size):
            with torch.no_grad(), kept_buffers(self.supernet):
                output, drawn = self.supernet.run(xv)
            latency = self.path_latency(drawn) if self.latency is not None else None
            rewards.append(self.rl_reward(output, yv, drawn, loss_fn, latency))
            paths.append({label: mix.indices[0] for label, mix in drawn.items()})
            if latency is not None:
                latencies.append(latency)
            self.last_arch_draw = drawn
        mean = sum(rewards) / len(rewards)
        baseline = mean if self.rl_baseline is None else self.rl_baseline
        baseline += self.rl_baseline_weight * (mean - baseline)
        self.rl_baseline = baseline
        arch = self.supernet.arch
        log_probs = {label: torch.log_softmax(arch.logits(label), -1) for label in paths[0]}
        objective = sum((reward - baseline) * sum(log_probs[label][index] for label, index in path.items())
                        for reward, path in zip(rewards, paths))
        self.arch_optimizer.zero_grad(set_to_none=True)
        self.arch_backward(-torch.as_tensor(objective) / len(rewards))
        average_gradients(list(self.supernet.arch_parameters()))
        self.arch_optimizer.step()
        stats = {"reward": mean, "baseline": baseline}
        if latencies:  # the drawn networks' mean latency, as the gradient mode reports its expected one
            stats["latency_ms"] = sum(latencies) / len(latencies)
        return stats

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
        return {"proxyless_batch": self._batch,
                "proxyless_rl_baseline": float("nan") if self.rl_baseline is None else self.rl_baseline}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self._batch = int(state.get("proxyless_batch", 0))
        baseline = float(state.get("proxyless_rl_baseline", float("nan")))
        self.rl_baseline = None if math.isnan(baseline) else baseline


__all__ = ["BinaryGates", "ProxylessNAS"]
