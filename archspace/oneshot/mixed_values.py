"""The mixed forms of the archspace.nn layers whose arguments are choices.

:class:`MixedValueLayer` runs the shared largest weight, output channels masked by the expected
channel count and kernels by the weighted sum of centred crops, as each layer class's
:class:`~archspace.nn.MixedForm` says; :class:`MixedPerValueLayer` holds one plain layer per value
(Dropout). A layer without a mixed form is refused by :func:`mixed_value_layer`, which is
registered as the mixed form of every :class:`~archspace.nn.MutableLayer`.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn.layers import MutableLayer
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.forms import MixedBuilder, MixedModule, SubnetChild, register_mixed
from archspace.space.decisions import ValueExpr, find_leaves, resolve


def _value_probs(expr: Any, module: MixedModule) -> list[tuple[Any, torch.Tensor]]:
    """(value, weight) pairs of an expression under the current mixes of its decisions."""
    leaves = find_leaves(expr)
    mixes = [module.mix(leaf.label) for leaf in leaves]
    probs: dict[Any, torch.Tensor] = {}
    for combo in itertools.product(*(range(len(m.indices)) for m in mixes)):
        value = expr.evaluate({leaf.label: leaf.values[m.indices[c]] for leaf, m, c in zip(leaves, mixes, combo)})
        p = torch.stack([m.weights[c] for m, c in zip(mixes, combo)]).prod()
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
        f"or use a LayerChoice of fixed {layer.plain_class().__name__} layers (each candidate gets its own weights)"
    )


def mixed_value_layer(layer: MutableLayer, arch: ArchParameters, path: str = "") -> nn.Module:
    """The mixed form of a mutable layer with choices, as its class's ``mixed_form`` describes.

    Raises:
        SpaceDefinitionError: the layer has no mixed form, or not for the arguments given choices.
    """
    form = layer.mixed_form
    chosen = [name for name, value in layer.space_arguments.items() if find_leaves(value)]
    uncovered = [name for name in chosen if form is None or not form.covers(name)]
    if uncovered:
        raise _no_mixed_form(layer, path, uncovered)
    assert form is not None
    if form.per_value:
        return MixedPerValueLayer(layer, arch)
    return MixedValueLayer(layer, arch)


class MixedPerValueLayer(MixedModule):
    """A mutable layer as the weighted sum of one plain layer per combination of its choices' values.

    The mixed form of parameter-free layers such as Dropout: exactly the mixed op of a LayerChoice
    over the plain layers, its weights the products of the decisions' weights.
    """

    def __init__(self, layer: MutableLayer, arch: ArchParameters) -> None:
        super().__init__(arch)
        self.leaves = layer.value_decisions()
        for leaf in self.leaves:
            arch.register(leaf.label, list(leaf.values))
        self.combos = list(itertools.product(*(range(len(leaf.values)) for leaf in self.leaves)))
        self.layers = nn.ModuleList(
            layer.plain_class()(**{k: resolve(v, {leaf.label: leaf.values[i] for leaf, i in zip(self.leaves, combo)})
                               for k, v in layer.space_arguments.items()})
            for combo in self.combos
        )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        mixes = [dict(self.mix(leaf.label).pairs()) for leaf in self.leaves]
        out: Any = None
        for combo, plain in zip(self.combos, self.layers):
            if any(i not in m for i, m in zip(combo, mixes)):
                continue
            p = torch.stack([m[i] for m, i in zip(mixes, combo)]).prod()
            term = p * plain(*args, **kwargs)
            out = term if out is None else out + term
        return out

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        combo = tuple(list(leaf.values).index(sample[leaf.label]) for leaf in self.leaves)
        return copy.deepcopy(self.layers[self.combos.index(combo)])


class MixedValueLayer(MixedModule):
    """An archspace.nn layer whose sizes are choices, on its shared largest weight.

    Which arguments mask which output dimension, and which is the kernel size, comes from the
    layer class's :class:`~archspace.nn.MixedForm`; build it with :func:`mixed_value_layer`,
    which checks that every choice is covered. Its subnet is the plain layer of the sample's
    sizes holding the slices it was trained as: leading entries of every dimension, centred crops
    of the kernel.
    """

    def __init__(self, layer: MutableLayer, arch: ArchParameters) -> None:
        super().__init__(arch)
        assert layer.mixed_form is not None
        self.layer = layer
        self.form = layer.mixed_form
        for value in layer.space_arguments.values():
            for leaf in find_leaves(value):
                arch.register(leaf.label, list(leaf.values))

    def _kernel_expr(self) -> Any:
        args = self.layer.space_arguments
        kernel = args.get(self.form.kernel) if self.form.kernel else None
        if isinstance(kernel, (tuple, list)) and find_leaves(kernel):
            if any(k is not kernel[0] for k in kernel):
                raise SpaceDefinitionError(
                    f"{type(self.layer).__name__}: a kernel size choice must be one choice for every dimension "
                    f"(e.g. kernel_size=k), got {kernel!r}"
                )
            kernel = kernel[0]
        return kernel

    def _kernel_mask(self, expr: Any) -> torch.Tensor:
        """The expected centred-crop mask over the kernel's spatial dimensions (1-D, 2-D, ...)."""
        weight: torch.Tensor = self.layer.weight  # type: ignore[assignment]
        spatial = tuple(int(d) for d in weight.shape[2:])
        mask = torch.zeros(spatial, device=weight.device, dtype=weight.dtype)
        for k, p in _value_probs(expr, self):
            k = int(k if isinstance(k, int) else k[0])
            box = torch.zeros(spatial, device=weight.device, dtype=weight.dtype)
            box[tuple(slice((size - k) // 2, (size - k) // 2 + k) for size in spatial)] = 1
            mask = mask + p * box
        return mask

    def _channel_mask(self, expr: Any, channels: int, like: torch.Tensor) -> torch.Tensor:
        index = torch.arange(channels, device=like.device)
        mask = torch.zeros(channels, device=like.device, dtype=like.dtype)
        for v, p in _value_probs(expr, self):
            mask = mask + p * (index < int(v)).to(like.dtype)
        return mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = self.layer.space_arguments
        layer: Any = self.layer
        kernel = self._kernel_expr()
        if isinstance(layer, nn.modules.conv._ConvNd) and isinstance(kernel, ValueExpr):
            out = layer._conv_forward(x, layer.weight * self._kernel_mask(kernel), layer.bias)
        else:
            out = layer.plain_class().forward(layer, x)
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

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        layer = self.layer
        values = {leaf.label: sample[leaf.label] for leaf in layer.value_decisions()}
        args = {k: resolve(v, values) for k, v in layer.space_arguments.items()}
        plain = layer.plain_class()(**args)
        kernel_dims = isinstance(layer, nn.modules.conv._ConvNd) and self.form.kernel is not None
        big = dict(layer.named_parameters(recurse=False)) | dict(layer.named_buffers(recurse=False))
        with torch.no_grad():
            for name, small in list(plain.named_parameters(recurse=False)) + list(plain.named_buffers(recurse=False)):
                source = big[name]
                index = []
                for dim, (have, want) in enumerate(zip(source.shape, small.shape)):
                    start = (have - want) // 2 if kernel_dims and name == "weight" and dim >= 2 else 0
                    index.append(slice(start, start + want))
                small.copy_(source[tuple(index)])
        plain.train(layer.training)
        return plain


@register_mixed(MutableLayer)
def _mixed_layer(layer: MutableLayer, label: str, builder: MixedBuilder) -> nn.Module:
    """Every archspace.nn layer (and a user's MutableLayer) mixes as its class's ``mixed_form`` says."""
    return mixed_value_layer(layer, builder.arch, builder.path)


__all__ = ["MixedPerValueLayer", "MixedValueLayer", "mixed_value_layer"]
