"""Mixed operations: the weighted forms of every decision-carrying module.

- :class:`MixedLayer` (LayerChoice): the weighted sum of all candidates; with hard Gumbel weights
  only the sampled candidate runs (as in GDAS), scaled by its straight-through weight.
- :class:`MixedInput` (InputChoice): the weighted sum of the reduced candidate input sets.
- :class:`MixedRepeat` (Repeat): the weighted sum of the outputs after each allowed depth.
- :class:`MixedCell` (Cell): one mixed op per (node, input) edge, nodes summing their incoming
  edges, as in DARTS; its logits are ``{label}/edge_{node}_{input}``.
- :class:`MixedValueLayer` (archspace.nn layers): the shared largest weight, with output channels
  masked by the expected channel count (the weighted sum of channel-sliced outputs) and kernels
  masked by the weighted sum of centred crops; which arguments do what is each layer class's
  :class:`~archspace.nn.MixedForm`. :class:`MixedPerValueLayer`: one plain layer per value
  (Dropout). A layer without a mixed form (GroupNorm, MultiheadAttention with choices, a user's
  layer that declares none) is refused by :func:`mixed_value_layer` with an error naming it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn.choices import reduce_tensors
from archspace.nn.layers import MutableLayer
from archspace.oneshot.arch import ArchParameters
from archspace.space.decisions import ValueExpr, find_leaves, resolve


def _hard_index(weights: torch.Tensor) -> int | None:
    """The chosen index when ``weights`` is a one-hot (hard Gumbel) sample, else None."""
    if weights.requires_grad and bool(((weights.detach() == 0) | (weights.detach() == 1)).all()):
        return int(weights.detach().argmax())
    return None


class MixedLayer(nn.Module):
    """A LayerChoice as a weighted sum of its candidates."""

    def __init__(self, name: str, candidates: dict[str, nn.Module], values: list[Any], arch: ArchParameters) -> None:
        super().__init__()
        self.name = name
        self.values = values
        self.candidates = nn.ModuleDict(candidates)
        self._arch = [arch]  # a list, so the shared ArchParameters is not registered as a child
        arch.register(name, values)

    def forward(self, *args: Any) -> torch.Tensor:
        weights = self._arch[0].weights(self.name)
        ops = list(self.candidates.values())
        index = _hard_index(weights)
        if index is not None:
            return weights[index] * ops[index](*args)
        out: torch.Tensor | None = None
        for w, op in zip(weights, ops):
            term = w * op(*args)
            out = term if out is None else out + term
        assert out is not None
        return out


class MixedInput(nn.Module):
    """An InputChoice as a weighted sum over its candidate input sets."""

    def __init__(self, name: str, values: list[Any], reduction: str, n_candidates: int, arch: ArchParameters) -> None:
        super().__init__()
        if reduction == "none":
            raise SpaceDefinitionError(f"InputChoice {name!r} with reduction 'none' cannot be mixed in a supernet")
        self.name = name
        self.choices = [v if isinstance(v, list) else [v] for v in values]
        self.reduction = reduction
        self.n_candidates = n_candidates
        self._arch = [arch]
        arch.register(name, values)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        weights = self._arch[0].weights(self.name)
        out: torch.Tensor | None = None
        for w, chosen in zip(weights, self.choices):
            term = w * reduce_tensors([inputs[i] for i in chosen], self.reduction)
            out = term if out is None else out + term
        assert out is not None
        return out


class MixedRepeat(nn.Module):
    """A Repeat as the weighted sum of the outputs after each allowed depth."""

    def __init__(self, name: str | None, blocks: list[nn.Module], depths: list[int], arch: ArchParameters) -> None:
        super().__init__()
        self.name = name
        self.blocks = nn.ModuleList(blocks)
        self.depths = depths
        self._arch = [arch]
        if name is not None:
            arch.register(name, list(depths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name is None:
            for block in self.blocks[: self.depths[0]]:
                x = block(x)
            return x
        weights = self._arch[0].weights(self.name)
        out = weights[self.depths.index(0)] * x if 0 in self.depths else None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i + 1 in self.depths:
                term = weights[self.depths.index(i + 1)] * x
                out = term if out is None else out + term
        assert out is not None
        return out


class MixedCell(nn.Module):
    """A DARTS cell: node ``i`` sums a mixed op on every earlier state ``j``."""

    def __init__(self, label: str, edges: dict[tuple[int, int], dict[str, nn.Module]], op_names: list[str],
                 num_predecessors: int, num_nodes: int, num_ops_per_node: int, arch: ArchParameters, *,
                 preprocessor: nn.Module | None, postprocessor: nn.Module | None, concat_dim: int) -> None:
        super().__init__()
        self.label = label
        self.op_names = op_names
        self.num_predecessors = num_predecessors
        self.num_nodes = num_nodes
        self.num_ops_per_node = num_ops_per_node
        self.concat_dim = concat_dim
        self.preprocessor = preprocessor
        self.postprocessor = postprocessor
        self.edges = nn.ModuleDict({
            f"{i}_{j}": MixedLayer(self.edge_name(i, j), ops, list(op_names), arch) for (i, j), ops in edges.items()
        })

    def edge_name(self, node: int, source: int) -> str:
        """The logits' name of the edge from state ``source`` into node ``node``."""
        return f"{self.label}/edge_{node}_{source}"

    def forward(self, *inputs: Any) -> torch.Tensor:
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        states = list(self.preprocessor(list(inputs))) if self.preprocessor is not None else list(inputs)
        for i in range(self.num_predecessors, self.num_predecessors + self.num_nodes):
            states.append(sum(self.edges[f"{i}_{j}"](states[j]) for j in range(i)))
        out = torch.cat(states[self.num_predecessors:], dim=self.concat_dim)
        if self.postprocessor is not None:
            out = self.postprocessor(out, list(inputs))
        return out


def _value_probs(expr: Any, arch: ArchParameters) -> list[tuple[Any, torch.Tensor]]:
    """(value, probability) pairs of an expression under the current weights of its decisions."""
    leaves = find_leaves(expr)
    for leaf in leaves:
        arch.register(leaf.label, list(leaf.values))
    weights = [arch.weights(leaf.label) for leaf in leaves]
    probs: dict[Any, torch.Tensor] = {}
    for combo in itertools.product(*(range(len(leaf.values)) for leaf in leaves)):
        value = expr.evaluate({leaf.label: leaf.values[i] for leaf, i in zip(leaves, combo)})
        p = torch.stack([w[i] for w, i in zip(weights, combo)]).prod()
        probs[value] = probs[value] + p if value in probs else p
    return list(probs.items())


def _no_mixed_form(layer: MutableLayer, path: str, args: list[str]) -> SpaceDefinitionError:
    cls = type(layer)
    where = f" at {path!r}" if path else ""
    form = layer.mixed_form
    if form is None:
        why = "it has no one-shot mixed form (a supernet cannot share one weight across these values)"
    else:
        covered = sorted({*form.masked, *([form.kernel] if form.kernel else []), *form.free})
        why = f"its one-shot mixed form covers choices of {covered} only"
    return SpaceDefinitionError(
        f"{cls.__module__}.{cls.__qualname__}{where} has choices of {args}, but {why}. Fix those values, "
        f"or use a LayerChoice of fixed {layer._asp_base.__name__} layers (each candidate gets its own weights)"
    )


def mixed_value_layer(layer: MutableLayer, arch: ArchParameters, path: str = "") -> nn.Module:
    """The mixed form of a mutable layer with choices, as its class's ``mixed_form`` describes.

    Raises:
        SpaceDefinitionError: the layer has no mixed form, or not for the arguments given choices.
    """
    form = layer.mixed_form
    chosen = [name for name, value in layer._asp_args.items() if find_leaves(value)]
    uncovered = [name for name in chosen if form is None or not form.covers(name)]
    if uncovered:
        raise _no_mixed_form(layer, path, uncovered)
    assert form is not None
    if form.per_value:
        return MixedPerValueLayer(layer, arch)
    return MixedValueLayer(layer, arch)


class MixedPerValueLayer(nn.Module):
    """A mutable layer as the weighted sum of one plain layer per combination of its choices' values.

    The mixed form of parameter-free layers such as Dropout: exactly the mixed op of a LayerChoice
    over the plain layers, its weights the products of the decisions' probabilities.
    """

    def __init__(self, layer: MutableLayer, arch: ArchParameters) -> None:
        super().__init__()
        self.leaves = layer.value_decisions()
        for leaf in self.leaves:
            arch.register(leaf.label, list(leaf.values))
        self.combos = list(itertools.product(*(range(len(leaf.values)) for leaf in self.leaves)))
        self.layers = nn.ModuleList(
            layer._asp_base(**{k: resolve(v, {leaf.label: leaf.values[i] for leaf, i in zip(self.leaves, combo)})
                               for k, v in layer._asp_args.items()})
            for combo in self.combos
        )
        self._arch = [arch]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        weights = [self._arch[0].weights(leaf.label) for leaf in self.leaves]
        out: Any = None
        for combo, plain in zip(self.combos, self.layers):
            p = torch.stack([w[i] for w, i in zip(weights, combo)]).prod()
            term = p * plain(*args, **kwargs)
            out = term if out is None else out + term
        return out


class MixedValueLayer(nn.Module):
    """An archspace.nn layer whose sizes are choices, on its shared largest weight.

    Which arguments mask which output dimension, and which is the kernel size, comes from the
    layer class's :class:`~archspace.nn.MixedForm`; build it with :func:`mixed_value_layer`,
    which checks that every choice is covered.
    """

    def __init__(self, layer: MutableLayer, arch: ArchParameters) -> None:
        super().__init__()
        assert layer.mixed_form is not None
        self.layer = layer
        self.form = layer.mixed_form
        self._arch = [arch]
        for value in layer._asp_args.values():
            for leaf in find_leaves(value):
                arch.register(leaf.label, list(leaf.values))

    def _kernel_mask(self, expr: Any) -> torch.Tensor:
        """The expected centred-crop mask over the kernel's spatial dimensions (1-D, 2-D, ...)."""
        weight: torch.Tensor = self.layer.weight  # type: ignore[assignment]
        spatial = tuple(int(d) for d in weight.shape[2:])
        mask = torch.zeros(spatial, device=weight.device, dtype=weight.dtype)
        for k, p in _value_probs(expr, self._arch[0]):
            k = int(k if isinstance(k, int) else k[0])
            box = torch.zeros(spatial, device=weight.device, dtype=weight.dtype)
            box[tuple(slice((size - k) // 2, (size - k) // 2 + k) for size in spatial)] = 1
            mask = mask + p * box
        return mask

    def _channel_mask(self, expr: Any, channels: int, like: torch.Tensor) -> torch.Tensor:
        index = torch.arange(channels, device=like.device)
        mask = torch.zeros(channels, device=like.device, dtype=like.dtype)
        for v, p in _value_probs(expr, self._arch[0]):
            mask = mask + p * (index < int(v)).to(like.dtype)
        return mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = self.layer._asp_args
        layer: Any = self.layer
        kernel = args.get(self.form.kernel) if self.form.kernel else None
        if isinstance(kernel, (tuple, list)) and find_leaves(kernel):
            if any(k is not kernel[0] for k in kernel):
                raise SpaceDefinitionError(
                    f"{type(layer).__name__}: a kernel size choice must be one choice for every dimension "
                    f"(e.g. kernel_size=k), got {kernel!r}"
                )
            kernel = kernel[0]
        if isinstance(layer, nn.modules.conv._ConvNd) and isinstance(kernel, ValueExpr):
            out = layer._conv_forward(x, layer.weight * self._kernel_mask(kernel), layer.bias)
        else:
            out = layer._asp_base.forward(layer, x)
        for name, dim in self.form.masked.items():
            expr = args.get(name)
            if isinstance(expr, (tuple, list)) and len(expr) == 1:
                expr = expr[0]
            if isinstance(expr, ValueExpr):
                mask = self._channel_mask(expr, out.shape[dim], out)
                shape = [1] * out.dim()
                shape[dim] = -1
                out = out * mask.view(shape)
        return out


__all__ = ["MixedCell", "MixedInput", "MixedLayer", "MixedPerValueLayer", "MixedRepeat", "MixedValueLayer",
           "mixed_value_layer"]
