"""Mixed operations: the weighted forms of LayerChoice, InputChoice and Repeat.

Every mixed form reads, in ``forward``, the :class:`~archspace.oneshot.policy.Mix` of its
decisions for the current pass (:func:`~archspace.oneshot.policy.current_mix`): the candidates
that run and their weights. It runs only those candidates, so a sampled policy trains exactly one
path. And every mixed form knows its plain frozen form under a sample,
:meth:`~archspace.oneshot.forms.MixedModule.subnet`, carrying the supernet's weights. Each is
registered for its decision type here (:func:`~archspace.oneshot.forms.register_mixed`).

- :class:`MixedLayer` (LayerChoice): the weighted sum of the running candidates, with the
  :class:`~archspace.oneshot.savings.Savings` that leave its values and gradients unchanged
  (skipping zero candidates, one shared leading ReLU, the weight folded into a trailing batch
  norm) and an opt-in one that trades time for memory (checkpointing).
- :class:`MixedInput` (InputChoice): the weighted sum of the reduced candidate input sets.
- :class:`MixedSubset` (InputChoice over any subset, ``n_chosen=None``): one independent gate per input.
- :class:`MixedRepeat` (Repeat): the weighted sum of the outputs after each allowed depth.
- :class:`~archspace.oneshot.cell_mixed.MixedCell` (Cell, in ``cell_mixed.py``): a mixed op per
  (node, input) edge, as in DARTS.
- the archspace.nn layers' forms, in ``mixed_values.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from archspace.errors import SpaceDefinitionError
from archspace.nn.choices import ChosenInputs, InputChoice, LayerChoice, empty_reduction, reduce_tensors
from archspace.nn.repeat import Repeat
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.buffers import kept_buffers
from archspace.oneshot.forms import MixedBuilder, MixedModule, SubnetChild, register_mixed
from archspace.oneshot.mixed_values import MixedPerValueLayer, MixedValueLayer, mixed_value_layer
from archspace.oneshot.policy import MixingPass, current_pass, mixing
from archspace.oneshot.savings import Savings, hooked, weighted_form

#: Candidate names taken as the zero op (DARTS's and NB201's ``none``): export never picks them, and
#: with :attr:`Savings.skip_zero` a parameter-free candidate of these names is never run.
NONE_OPS = ("none", "zero")


class MixedLayer(MixedModule):
    """A LayerChoice as a weighted sum of its running candidates (with the supernet's :class:`Savings`)."""

    def __init__(self, name: str, candidates: dict[str, nn.Module], values: list[Any], arch: ArchParameters) -> None:
        super().__init__(arch)
        self.name = name
        self.values = values
        self.candidates = nn.ModuleDict(candidates)
        arch.register(name, values)
        self.zero_indices = frozenset(
            i for i, (key, op) in enumerate(candidates.items())
            if getattr(op, "zero_output", False) or (key in NONE_OPS and next(op.parameters(), None) is None)
        )

    def forward(self, *args: Any) -> torch.Tensor:
        mix = self.mix(self.name)
        pairs = list(enumerate(mix.indices))
        if self.savings.skip_zero:
            ops = list(self.candidates.values())
            nonzero = [(p, i) for p, i in pairs if i not in self.zero_indices or hooked(ops[i])]
            pairs = nonzero or pairs  # all zero: run one to get the output's shape
        recompute = self.savings.checkpoint_ops or mix.recompute
        run = functools.partial(self._weighted_sum, pairs, recompute)
        if mix.channel_fraction < 1.0:
            run = functools.partial(_partial_channels, run, mix.channel_fraction, self.name)
        weights = mix.scaled_weights()
        if recompute and torch.is_grad_enabled():
            running = current_pass()
            if running is not None:  # nested mixes drawn now, not inside the replayed region
                running.draw_all()
            context = functools.partial(_recompute_context, self, running)
            out: torch.Tensor = checkpoint(run, weights, *args, use_reentrant=False, context_fn=context)
        else:
            out = run(weights, *args)
        if mix.undrawn is not None and mix.undrawn.numel():  # GDAS's scalar terms (see Mix.undrawn)
            out = out + mix.undrawn.sum()
        return out

    def _weighted_sum(self, pairs: list[tuple[int, int]], recompute: bool, weights: torch.Tensor,
                      *args: Any) -> torch.Tensor:
        """Sum of ``weights[position] * candidate[index](*args)`` over ``pairs`` (position, index)."""
        ops = list(self.candidates.values())
        shared: dict[int, torch.Tensor] = {}
        out: torch.Tensor | None = None
        for position, index in pairs:
            op = ops[index]
            form = weighted_form(op, self.savings) if len(args) == 1 else None
            if form is None:
                term = weights[position] * op(*args)
            else:
                takes_relu, run = form
                term = run(self._relu(args[0], shared, recompute) if takes_relu else args[0], weights[position])
            out = term if out is None else out + term
        assert out is not None
        return out

    def _relu(self, x: torch.Tensor, local: dict[int, torch.Tensor], recompute: bool) -> torch.Tensor:
        """``relu(x)``, computed once per input of this call, or of the pass when not recomputing."""
        running = current_pass()
        if running is not None and not recompute:
            return running.shared("relu", x, torch.relu)
        if id(x) not in local:
            local[id(x)] = torch.relu(x)
        return local[id(x)]

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        return child(self.candidates[str(sample[self.name])], sample)


def _partial_channels(run: Callable[..., torch.Tensor], fraction: float, label: str, weights: torch.Tensor,
                      x: torch.Tensor) -> torch.Tensor:
    """PC-DARTS's partial channels: the candidates see the leading ``fraction`` of the channels
    (at least one), the rest pass unchanged and are concatenated after the op's output.

    Raises:
        SpaceDefinitionError: the candidates change the shape of what they see (a reduction or a
            width change), which the bypassed channels cannot follow.
    """
    k = max(1, int(x.shape[1] * fraction))
    seen = x[:, :k]
    out = run(weights, seen)
    if out.shape != seen.shape:
        raise SpaceDefinitionError(
            f"LayerChoice {label!r}: partial channels (channel_fraction={fraction}) need candidates that keep "
            f"their input's shape, got {tuple(seen.shape)} -> {tuple(out.shape)}"
        )
    return torch.cat([out, x[:, k:]], dim=1)


def _recompute_context(module: nn.Module, running: MixingPass | None) -> tuple[AbstractContextManager[Any],
                                                                              AbstractContextManager[Any]]:
    """Contexts for ``checkpoint``: none for the forward; for the recomputation, the same mixing
    pass (nested mixed forms read the mixes drawn in the forward) and the module's buffers put
    back afterwards (batch norm must not count the recomputed batch a second time)."""
    return nullcontext(), _replaying(module, running)


@contextmanager
def _replaying(module: nn.Module, running: MixingPass | None) -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(kept_buffers(module))
        if running is not None:
            stack.enter_context(mixing(running))
        yield


class MixedInput(MixedModule):
    """An InputChoice as a weighted sum over its candidate input sets."""

    def __init__(self, name: str, values: list[Any], reduction: str, n_candidates: int, arch: ArchParameters) -> None:
        super().__init__(arch)
        if reduction == "none":
            raise SpaceDefinitionError(f"InputChoice {name!r} with reduction 'none' cannot be mixed in a supernet")
        self.name = name
        self.choices = [v if isinstance(v, list) else [v] for v in values]
        self.reduction = reduction
        self.n_candidates = n_candidates
        arch.register(name, values)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        out: torch.Tensor | None = None
        for index, w in self.mix(self.name).pairs():
            term = w * reduce_tensors([inputs[i] for i in self.choices[index]], self.reduction)
            out = term if out is None else out + term
        assert out is not None
        return out

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        chosen = sample[self.name]
        return ChosenInputs(chosen if isinstance(chosen, list) else [chosen], self.reduction, self.n_candidates)


class MixedSubset(MixedModule):
    """An InputChoice over any subset (``n_chosen=None``): every candidate input behind its own gate.

    Input ``j``'s gate is its decision ``{label}/skip_{j}`` (values 0, 1), with logits of its own, so
    every policy treats the gates as independent decisions: DARTS's softmax weighs input ``j`` by
    ``g_j = softmax(logits_j)[1]`` (the sigmoid of the logit difference, not a share of one
    softmax over the inputs), sampled policies (SPOS, ENAS, Gumbel, ProxylessNAS) draw each gate
    and so a subset, and export takes the inputs whose gate prefers 1. The output is
    ``sum_j g_j x_j`` (``g_j`` 0 when the pass does not run value 1); for ``"mean"`` it is divided
    by ``max(sum_j g_j, 1)``: exactly the mean of a drawn subset, the expected output for a single
    soft gate, and the plain mean when the gates are even. No input taken gives the frozen form's
    empty sum (:func:`~archspace.nn.choices.empty_reduction`).
    """

    def __init__(self, gates: list[str], reduction: str, n_candidates: int, arch: ArchParameters) -> None:
        super().__init__(arch)
        if reduction not in ("sum", "mean"):
            raise SpaceDefinitionError(
                f"InputChoice over any subset (gates {gates[0]!r}, ...) with reduction {reduction!r} cannot be mixed "
                "in a supernet: its output's width or form changes with the subset; use 'sum' or 'mean'")
        self.gates = list(gates)
        self.reduction = reduction
        self.n_candidates = n_candidates
        for gate in gates:
            arch.register(gate, [0, 1])

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice expects {self.n_candidates} inputs, got {len(inputs)}")
        out: torch.Tensor | None = None
        taken: torch.Tensor | None = None
        for x, gate in zip(inputs, self.gates):
            for index, w in self.mix(gate).pairs():
                if index == 1:  # value 1: the input is taken; value 0 adds nothing
                    out = w * x if out is None else out + w * x
                    taken = w if taken is None else taken + w
        if out is None or taken is None:
            result: torch.Tensor = empty_reduction(inputs, self.reduction)
            return result
        return out / taken.clamp_min(1.0) if self.reduction == "mean" else out

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        chosen = [j for j, gate in enumerate(self.gates) if sample[gate] == 1]
        return ChosenInputs(chosen, self.reduction, self.n_candidates)


class MixedRepeat(MixedModule):
    """A Repeat as the weighted sum of the outputs after each running depth."""

    def __init__(self, name: str | None, blocks: list[nn.Module], depths: list[int], arch: ArchParameters) -> None:
        super().__init__(arch)
        self.name = name
        self.blocks = nn.ModuleList(blocks)
        self.depths = depths
        if name is not None:
            arch.register(name, list(depths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name is None:
            for block in self.blocks[: self.depths[0]]:
                x = block(x)
            return x
        weight_of = {self.depths[index]: w for index, w in self.mix(self.name).pairs()}
        out = weight_of[0] * x if 0 in weight_of else None
        for i, block in enumerate(self.blocks[: max(weight_of)]):
            x = block(x)
            if i + 1 in weight_of:
                term = weight_of[i + 1] * x
                out = term if out is None else out + term
        assert out is not None
        return out

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        depth = int(sample[self.name]) if self.name is not None else self.depths[0]
        return nn.Sequential(*(child(block, sample) for block in self.blocks[:depth]))


@register_mixed(LayerChoice)
def _mixed_layer_choice(choice: LayerChoice, label: str, builder: MixedBuilder) -> nn.Module:
    """A :class:`MixedLayer` over the candidates' mixed forms."""
    candidates = {str(v): builder.child(str(v), choice.candidate(v)) for v in choice.candidate_names}
    return MixedLayer(label, candidates, choice.candidate_names, builder.arch)


@register_mixed(InputChoice)
def _mixed_input_choice(choice: InputChoice, label: str, builder: MixedBuilder) -> nn.Module:
    """A :class:`MixedInput` (the weighted candidate input sets), or over any subset a :class:`MixedSubset`."""
    if choice.any_subset:
        return MixedSubset([gate.label for gate in choice.decisions(label)], choice.reduction, choice.n_candidates,
                           builder.arch)
    return MixedInput(label, choice.values(), choice.reduction, choice.n_candidates, builder.arch)


@register_mixed(Repeat)
def _mixed_repeat(repeat: Repeat, label: str, builder: MixedBuilder) -> nn.Module:
    """A :class:`MixedRepeat`: the weighted outputs after each depth."""
    decisions = repeat.decisions(label)
    blocks = [builder.child(str(i), block) for i, block in enumerate(repeat.blocks())]
    return MixedRepeat(decisions[0].label if decisions else None, blocks, repeat.depths, builder.arch)


__all__ = ["NONE_OPS", "MixedBuilder", "MixedInput", "MixedLayer", "MixedModule", "MixedPerValueLayer", "MixedRepeat",
           "MixedSubset", "MixedValueLayer", "Savings", "SubnetChild", "mixed_value_layer", "weighted_form"]
