"""Mixed operations: the weighted forms of every decision-carrying module.

Each decision type builds its own mixed form (``to_mixed`` on LayerChoice, InputChoice, Repeat,
Cell and the archspace.nn layers; a user's :class:`~archspace.nn.mutable.Mutable` subclass may do
the same) from a :class:`MixedBuilder`. Every mixed form reads, in ``forward``, the :class:`Mix`
of its decisions for the current pass (:func:`~archspace.oneshot.policy.current_mix`): the
candidates that run and their weights. It runs only those candidates, so a sampled policy trains
exactly one path. And every mixed form knows its plain frozen form under a sample,
:meth:`MixedModule.subnet`, carrying the supernet's weights.

- :class:`MixedLayer` (LayerChoice): the weighted sum of the running candidates, with the
  :class:`Savings` that leave its values and gradients unchanged (skipping zero candidates,
  one shared leading ReLU, the weight folded into a trailing batch norm) and an opt-in one that
  trades time for memory (checkpointing).
- :class:`MixedInput` (InputChoice): the weighted sum of the reduced candidate input sets.
- :class:`MixedRepeat` (Repeat): the weighted sum of the outputs after each allowed depth.
- :class:`MixedCell` (Cell, in ``cell_mixed.py``): a mixed op per (node, input) edge, as in DARTS.
- :class:`MixedValueLayer` (archspace.nn layers): the shared largest weight, output channels
  masked by the expected channel count and kernels by the weighted sum of centred crops, as each
  layer class's :class:`~archspace.nn.MixedForm` says; :class:`MixedPerValueLayer`: one plain layer
  per value (Dropout). A layer without a mixed form is refused by :func:`mixed_value_layer`.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from archspace.errors import SpaceDefinitionError
from archspace.nn._walk import join
from archspace.nn.choices import ChosenInputs, reduce_tensors
from archspace.nn.layers import MutableLayer
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.policy import Mix, MixingPass, current_mix, current_pass, mixing
from archspace.space.decisions import ValueExpr, find_leaves, resolve

#: Candidate names taken as the zero op (DARTS's and NB201's ``none``): export never picks them, and
#: with :attr:`Savings.skip_zero` a parameter-free candidate of these names is never run.
NONE_OPS = ("none", "zero")

# Freezes a supernet sub-tree under a sample: (module, sample) -> plain module with its weights.
SubnetChild = Callable[[nn.Module, Mapping[str, Any]], nn.Module]


class MixedBuilder:
    """What a decision needs to build its mixed form: its place, the logits, its children's forms.

    Attributes:
        arch: the supernet's architecture parameters; :meth:`register` a label before mixing it.
        path: the module path of the decision being converted (labels default to it).
    """

    def __init__(self, arch: ArchParameters, path: str, convert: Callable[[nn.Module, str], nn.Module]) -> None:
        self.arch = arch
        self.path = path
        self._convert = convert

    def register(self, label: str, values: Sequence[Any]) -> None:
        """Create the logits of decision ``label`` over ``values`` (shared labels share them)."""
        self.arch.register(label, list(values))

    def child(self, suffix: str, module: nn.Module) -> nn.Module:
        """The mixed form of a child module at ``path.suffix`` (converted recursively)."""
        return self._convert(module, join(self.path, suffix))


@dataclass(frozen=True)
class Savings:
    """How a supernet's mixed ops save time and memory (``to_supernet(space, ...)`` sets them).

    The first three change nothing in the mathematics: the same forward values and the same
    gradients (up to float rounding: the order of sums, a product taken in another place), so
    they are on by default.

    Attributes:
        skip_zero: never run a zero candidate (a candidate with a ``zero_output = True`` class
            attribute, or a parameter-free one named ``none``/``zero``) while another candidate
            runs. Its term ``w * 0`` adds exactly nothing to the output, and its weight's gradient
            ``<dL/dout, 0>`` is exactly 0 either way, so the logits' gradients (through the other
            weights of the softmax) are unchanged. It saves the op, the product and the saved zero
            tensor. (Only an op output holding inf or NaN, where ``0 * inf`` is NaN, would differ.)
            A candidate watched by forward hooks still runs.
        share_relu: candidates that start with a non-inplace ``nn.ReLU`` (ReLU-conv-BN, separable
            and dilated convs, or a module defining ``forward_after_relu``) read one ``relu(x)``
            per input tensor and pass instead of one each: within a pass it is shared by every
            edge reading that state. Saves the repeated ReLUs and the copies autograd keeps of
            them. A module watched by forward hooks is never skipped (it runs as itself).
        fold_weight: a candidate ending in batch norm (``BatchNorm1d/2d/3d``, possibly followed
            by identities such as drop path at probability 0) computes ``w * bn(h)`` as one batch
            norm with affine weight ``w * gamma`` (or ``w``) and bias ``w * beta``: the same values
            up to rounding and the same gradients, but batch norm's output is not kept for ``w``'s
            gradient (its backward needs only its input), one tensor less per such candidate,
            and one multiplication pass less.
        checkpoint_ops: opt-in. Each mixed op keeps only its input for the backward pass and
            recomputes its candidates there (``torch.utils.checkpoint``): much less memory for
            about one more forward of the mixed ops in time. Batch-norm running statistics are
            restored after the recomputation and the same mix and random state are used, so
            values, gradients and buffers are those of the plain run.
    """

    skip_zero: bool = True
    share_relu: bool = True
    fold_weight: bool = True
    checkpoint_ops: bool = False


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
WeightedForm = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The modules a chain of ``nn.Sequential`` runs in order (containers with hooks stay whole)."""
    if isinstance(module, nn.Sequential) and not _hooked(module):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _hooked(module: nn.Module) -> bool:
    """Whether forward hooks watch the module (then it runs as itself, never skipped or fused)."""
    return bool(module._forward_hooks or module._forward_pre_hooks)


def _is_identity(module: nn.Module) -> bool:
    """Whether the module returns its input unchanged right now (``nn.Identity``, or a module
    saying so through an ``is_identity`` attribute, e.g. drop path with probability 0)."""
    return type(module) is nn.Identity or getattr(module, "is_identity", False) is True


def _weighted_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``w * bn(x)`` as one batch norm whose affine weight (and bias) carry ``w``.

    The same running-statistics update as ``bn(x)``; batch norm's backward needs only its input
    and statistics, so the output is not kept for ``w``'s gradient as ``w * bn(x)`` keeps it.
    """
    bn._check_input_dim(x)
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
    track = not bn.training or bn.track_running_stats
    channels = x.shape[1]
    # Contiguous: CPU batch norm on channels-last input got the gradients wrong with a stride-0 weight.
    weight = w.expand(channels).contiguous() if bn.weight is None else w * bn.weight
    bias = None if bn.bias is None else w * bn.bias
    return nn.functional.batch_norm(x, bn.running_mean if track else None, bn.running_var if track else None,
                                    weight, bias, use_batch, factor, bn.eps)


def weighted_form(module: nn.Module, savings: Savings) -> tuple[bool, WeightedForm] | None:
    """``(takes_relu, f)`` with ``f(r, w) == w * module(x)``, where ``r`` is ``relu(x)`` if
    ``takes_relu`` else ``x``, when a saving applies to the module; None when none does.

    With ``share_relu``, a leading non-inplace ReLU (or a module's ``forward_after_relu``) is left
    to the caller, who computes it once per input. With ``fold_weight``, a trailing batch norm
    (before modules that are the identity right now) takes ``w`` into its affine transform. The
    module is walked through its ``nn.Sequential`` chains, so the state dict stays as it is.
    """
    leaves = _leaves(module)
    takes_relu = False
    head: Callable[[torch.Tensor], torch.Tensor] | None = None
    first = leaves[0]
    after = getattr(first, "forward_after_relu", None)
    if _hooked(first):
        pass
    elif savings.share_relu and type(first) is nn.ReLU and not first.inplace:
        takes_relu, leaves = True, leaves[1:]
    elif savings.share_relu and callable(after):
        takes_relu, head, leaves = True, after, leaves[1:]
    tail: nn.modules.batchnorm._BatchNorm | None = None
    if savings.fold_weight:
        body = list(leaves)
        while body and _is_identity(body[-1]):
            body.pop()
        if body and type(body[-1]) in _BATCH_NORMS and not _hooked(body[-1]):
            last = body.pop()
            assert isinstance(last, nn.modules.batchnorm._BatchNorm)
            tail, leaves = last, body
    if not takes_relu and tail is None:
        return None

    def run(r: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = head(r) if head is not None else r
        for layer in leaves:
            out = layer(out)
        return _weighted_batch_norm(tail, out, w) if tail is not None else w * out

    return takes_relu, run


class MixedModule(nn.Module):
    """Base of the mixed forms: the supernet exports and extracts subnets through these hooks.

    Args:
        arch: the architecture parameters the module's decisions are registered in.

    Attributes:
        savings: the supernet's :class:`Savings` (set on every mixed form by the supernet).
    """

    savings: Savings = Savings()

    def __init__(self, arch: ArchParameters) -> None:
        super().__init__()
        self._arch = [arch]  # a list: the shared parameters must not register as a child

    @property
    def arch(self) -> ArchParameters:
        """The architecture parameters of this module's decisions."""
        return self._arch[0]

    def mix(self, label: str) -> Mix:
        """The mix of ``label`` in the current forward pass."""
        return current_mix(label, self.arch)

    def export_into(self, sample: dict[str, Any]) -> None:
        """Add the choices this module derives beyond the argmax of each registered label.

        The supernet first sets every registered label that is a decision of the space to its
        strongest candidate; modules whose sample is not read off one label each (a cell's
        wiring) override this.
        """

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        """The plain module this one becomes under ``sample``, with the supernet's weights."""
        raise NotImplementedError(f"{type(self).__name__} has no subnet form")


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
            nonzero = [(p, i) for p, i in pairs if i not in self.zero_indices or _hooked(ops[i])]
            pairs = nonzero or pairs  # all zero: run one to get the output's shape
        run = functools.partial(self._weighted_sum, pairs)
        if self.savings.checkpoint_ops and torch.is_grad_enabled():
            running = current_pass()
            if running is not None:  # nested mixes drawn now, not inside the replayed region
                running.draw_all()
            context = functools.partial(_recompute_context, self, running)
            out: torch.Tensor = checkpoint(run, mix.weights, *args, use_reentrant=False, context_fn=context)
            return out
        return run(mix.weights, *args)

    def _weighted_sum(self, pairs: list[tuple[int, int]], weights: torch.Tensor, *args: Any) -> torch.Tensor:
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
                term = run(self._relu(args[0], shared) if takes_relu else args[0], weights[position])
            out = term if out is None else out + term
        assert out is not None
        return out

    def _relu(self, x: torch.Tensor, local: dict[int, torch.Tensor]) -> torch.Tensor:
        """``relu(x)``, computed once per input of this call, or of the pass when not checkpointing."""
        running = current_pass()
        if running is not None and not self.savings.checkpoint_ops:
            return running.shared("relu", x, torch.relu)
        if id(x) not in local:
            local[id(x)] = torch.relu(x)
        return local[id(x)]

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        return child(self.candidates[str(sample[self.name])], sample)


def _recompute_context(module: nn.Module, running: MixingPass | None) -> tuple[AbstractContextManager[Any],
                                                                              AbstractContextManager[Any]]:
    """Contexts for ``checkpoint``: none for the forward; for the recomputation, the same mixing
    pass (nested mixed forms read the mixes drawn in the forward) and the module's buffers put
    back afterwards (batch norm must not count the recomputed batch a second time)."""
    return nullcontext(), _replaying(module, running)


@contextmanager
def _replaying(module: nn.Module, running: MixingPass | None) -> Iterator[None]:
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    with ExitStack() as stack:
        if running is not None:
            stack.enter_context(mixing(running))
        try:
            yield
        finally:
            with torch.no_grad():
                for buffer, saved in buffers:
                    buffer.copy_(saved)


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
            layer._asp_base(**{k: resolve(v, {leaf.label: leaf.values[i] for leaf, i in zip(self.leaves, combo)})
                               for k, v in layer._asp_args.items()})
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
        for value in layer._asp_args.values():
            for leaf in find_leaves(value):
                arch.register(leaf.label, list(leaf.values))

    def _kernel_expr(self) -> Any:
        args = self.layer._asp_args
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
        args = self.layer._asp_args
        layer: Any = self.layer
        kernel = self._kernel_expr()
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

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        layer = self.layer
        values = {leaf.label: sample[leaf.label] for leaf in layer.value_decisions()}
        args = {k: resolve(v, values) for k, v in layer._asp_args.items()}
        plain = layer._asp_base(**args)
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


__all__ = ["NONE_OPS", "MixedBuilder", "MixedInput", "MixedLayer", "MixedModule", "MixedPerValueLayer", "MixedRepeat",
           "MixedValueLayer", "Savings", "SubnetChild", "mixed_value_layer", "weighted_form"]
