"""From any model space to a weight-sharing supernet, and from it back to samples and subnets.

``to_supernet(space)`` copies the space and asks every decision-carrying module for its mixed
form (``to_mixed``: LayerChoice, InputChoice, Repeat, Cell, archspace.nn layers, and any user
type that implements it), following the same paths and labels as ``search_space()``; the
architecture logits live in one :class:`ArchParameters` apart from the network weights. Every
forward pass asks the supernet's :class:`~archspace.oneshot.policy.WeightingPolicy` for each
decision's weights, once. ``export()`` reads the chosen sample off the logits (the argmax of every
decision, plus what each mixed form derives, e.g. a cell's wiring); ``subnet(sample)`` returns the
plain model of a sample carrying the supernet's trained weights.

The mixed ops run with :class:`~archspace.oneshot.savings.Savings`: by default they skip zero
candidates, share one ReLU per input and fold each candidate's weight into its closing batch norm
(same values and gradients up to rounding, less time and memory);
``checkpoint_ops=True`` trades about a third more time for much less memory.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from archspace.nn.layers import MutableLayer
from archspace.nn.mutable import Mutable
from archspace.nn.space import ModelSpace
from archspace.nn.walk import join
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.cell_mixed import NONE_OPS, MixedCell
from archspace.oneshot.forms import MixedBuilder, MixedModule, mixed_form
from archspace.oneshot.policy import Mix, MixingPass, Softmax, WeightingPolicy, mixing
from archspace.oneshot.savings import Savings
from archspace.space.samples import Sample


def _convert(module: nn.Module, path: str, arch: ArchParameters) -> nn.Module:
    """``module`` with every decision-carrying module below it replaced by its mixed form."""
    def convert(sub: nn.Module, sub_path: str) -> nn.Module:
        return _convert(sub, sub_path, arch)

    if isinstance(module, Mutable):
        return mixed_form(module, module.label or path, MixedBuilder(arch, path, convert))
    if isinstance(module, MutableLayer):
        return mixed_form(module, path, MixedBuilder(arch, path, convert)) if module.is_mutable else module
    for name, sub in list(module._modules.items()):
        if sub is not None:
            new = _convert(sub, join(path, name), arch)
            if new is not sub:
                module._modules[name] = new
    return module


def _subnet_tree(module: nn.Module, sample: Mapping[str, Any]) -> nn.Module:
    """``module`` with every mixed form below it replaced by its plain form under ``sample``,
    leaving ``module`` itself untouched.

    Copy on write: a module whose subtree changes is copied shallowly (its own ``_modules``, the
    same tensors); an unchanged subtree is the supernet's own. The result is only read (its
    ``state_dict`` is loaded into a fresh frozen model), so sharing the tensors is safe, and it
    spares a deep copy of every candidate's weights per subnet: on the small DARTS space that copy
    was about 1 s of each subnet's 1.1 s (an SPOS evolution extracts hundreds).
    """
    if isinstance(module, MixedModule):
        return module.subnet(sample, _subnet_tree)
    changed: dict[str, nn.Module] = {}
    for name, sub in module._modules.items():
        if sub is not None:
            new = _subnet_tree(sub, sample)
            if new is not sub:
                changed[name] = new
    if not changed:
        return module
    clone = copy.copy(module)
    clone._modules = {**module._modules, **changed}
    return clone


class Supernet(nn.Module):
    """A weight-sharing supernet of a model space.

    Args:
        space: the model space (left untouched; the supernet holds a converted copy).
        policy: how each forward pass weighs the candidates (default: DARTS's softmax).
        skip_zero: never run zero (``none``) candidates while another candidate runs (exact:
            their term and their weight's gradient are exactly zero). See
            :class:`~archspace.oneshot.savings.Savings`.
        share_relu: one ``relu(x)`` per state and pass for every candidate starting with a ReLU
            (exact up to the order of float sums in the input's gradient).
        fold_weight: a candidate ending in batch norm runs ``w * bn(h)`` as one batch norm with
            ``w`` in its affine transform (exact up to rounding; one kept tensor less per candidate).
        checkpoint_ops: recompute each mixed op's candidates in the backward pass instead of
            keeping their activations (opt-in: much less memory, about one more forward in time;
            the same values, gradients and batch-norm statistics).
        channels_last: opt-in. 4-D weights and 4-D tensor inputs in the channels-last memory
            format (NHWC), which oneDNN's CPU convolutions prefer: the DARTS separable and dilated
            convs ran about 1.7-2x faster in it. A layout, not a change of values (equal up to
            rounding); the state dict holds the same values (NHWC-strided tensors).

    To train with other savings, build the supernet and hand it to the trainer:
    ``DARTS().fit(to_supernet(space, checkpoint_ops=True), train, val)``.

    Attributes:
        net: the space with every decision replaced by its mixed form.
        arch: the architecture logits (``arch_parameters()``), kept apart from ``weight_parameters()``.
        policy: the weighting policy asked once per forward pass for every decision's weights.
        savings: the :class:`~archspace.oneshot.savings.Savings` every mixed form runs with.
    """

    def __init__(self, space: ModelSpace, policy: WeightingPolicy | None = None, *, skip_zero: bool = True,
                 share_relu: bool = True, fold_weight: bool = True, checkpoint_ops: bool = False,
                 channels_last: bool = False) -> None:
        super().__init__()
        if space.is_frozen:
            raise TypeError("to_supernet needs a model space, not a frozen model")
        if policy is None:
            policy = Softmax()
        self.space = [space]  # the original, kept out of this module's parameters
        self.arch = ArchParameters()
        self.policy: WeightingPolicy = policy
        # The copy keeps the user's forward; only its decision-carrying children become mixed ops.
        self.net = _convert(copy.deepcopy(space), "", self.arch)
        self.savings = Savings(skip_zero=skip_zero, share_relu=share_relu, fold_weight=fold_weight,
                               checkpoint_ops=checkpoint_ops)
        for module in self.mixed_modules():
            module.savings = self.savings
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.run(*args, **kwargs)[0]

    def run(self, *args: Any, **kwargs: Any) -> tuple[Any, Mapping[str, Mix]]:
        """The forward pass, and the mix of every decision it ran with (label -> :class:`Mix`).

        What the policy drew for a pass comes back with the pass's output, to the step that ran
        it (GumbelDARTS prices the very Gumbel sample its validation pass used; ProxylessNAS
        rescales the pairs that ran), so no policy keeps its draws on the side for others to
        read. Called directly, it runs the hooks of the supernet's modules but not the
        supernet's own ``nn.Module`` hooks.
        """
        if self.channels_last:
            args = tuple(a.contiguous(memory_format=torch.channels_last)
                         if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)
        running = MixingPass(self.arch, self.policy, self.training)
        # Every mix up front, in the labels' order: a pass then draws the same random numbers
        # whatever the savings (a checkpointed op must not draw its nested mixes itself).
        running.draw_all()
        with mixing(running):
            return self.net(*args, **kwargs), running.mixes

    @contextmanager
    def using(self, policy: WeightingPolicy) -> Iterator[Supernet]:
        """Run the supernet under ``policy`` within the block (e.g. a fixed path for evaluation)."""
        previous, self.policy = self.policy, policy
        try:
            yield self
        finally:
            self.policy = previous

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """The network weights (optimised on training data)."""
        return self.net.parameters()

    def arch_parameters(self) -> Iterator[nn.Parameter]:
        """The architecture logits (optimised on validation data)."""
        return self.arch.parameters()

    def mixed_modules(self) -> list[MixedModule]:
        """Every mixed form in the network, in module order."""
        return [m for m in self.net.modules() if isinstance(m, MixedModule)]

    @property
    def cells(self) -> list[MixedCell]:
        """The mixed cells of the network."""
        return [m for m in self.mixed_modules() if isinstance(m, MixedCell)]

    def export(self) -> Sample:
        """The chosen sample, validated against the space.

        Every decision with logits takes its strongest candidate; each mixed form then adds what it
        derives (a cell: its wiring by the DARTS rule, and the choices nested in the ops of its
        later terms); an active decision still without a value takes its default.
        """
        space = self.space[0]
        decisions = space.search_space()
        sample: Sample = {name: self.arch.best(name) for name in self.arch.names if name in decisions}
        for module in self.mixed_modules():
            module.export_into(sample)
        for label, decision in decisions.items():
            if label not in sample and decisions.condition(label).holds(sample):
                sample[label] = decision.default
        return space.validate({k: v for k, v in sample.items() if k in decisions})

    @torch.no_grad()
    def pin(self, sample: Mapping[str, Any]) -> None:
        """Make :meth:`export` return ``sample`` (an algorithm's answer chosen otherwise than by
        the logits, e.g. by an evolutionary search): every decision's logits favour the sample's
        value (0 for it, -20 for the others) and every cell is pinned to the sample's wiring.

        Raises:
            archspace.errors.ArchspaceError: the sample does not fit the space (as ``validate``).
        """
        sample = self.space[0].validate(dict(sample))
        for label, values in self.arch.names.items():
            if label in sample:
                logits = self.arch.logits(label)
                logits.fill_(-20.0)
                logits[list(values).index(sample[label])] = 0.0
        for cell in self.cells:
            cell.pin(cell.wiring_of(sample))

    def subnet(self, sample: Mapping[str, Any]) -> nn.Module:
        """The plain model of ``sample`` carrying this supernet's trained weights.

        It is ``space.freeze(sample)`` (the same class, ``state_dict`` keys and shapes as a model
        built under ``fixed_arch(sample)``) loaded with the weights each chosen path was trained
        with: a LayerChoice's chosen candidate, a cell's trained op per chosen edge, and for channel
        and kernel choices the leading channels and the centred kernel crop of the shared weight.
        The model is on the supernet's device and in its train/eval mode. A mixed form whose
        supernet computes something its frozen layer does not (a LayerNorm over a masked width
        normalises over the full width) gives the frozen layer's function with the trained weights.

        Raises:
            archspace.errors.ArchspaceError: the sample does not fit the space (as ``validate``).
        """
        space = self.space[0]
        valid = space.validate(sample)
        trained = _subnet_tree(self.net, valid)
        model = space.freeze(valid)
        model.load_state_dict(trained.state_dict())
        weight = next(self.net.parameters(), None)
        if weight is not None:
            model.to(weight.device)  # where the supernet lives (freeze builds on the CPU)
        model.train(self.training)
        return model


def to_supernet(space: ModelSpace, policy: WeightingPolicy | None = None, *, skip_zero: bool = True,
                share_relu: bool = True, fold_weight: bool = True, checkpoint_ops: bool = False,
                channels_last: bool = False) -> Supernet:
    """The weight-sharing supernet of ``space`` (the space itself is left untouched).

    The keyword arguments choose the mixed ops' savings, as :class:`Supernet` documents.
    """
    return Supernet(space, policy, skip_zero=skip_zero, share_relu=share_relu, fold_weight=fold_weight,
                    checkpoint_ops=checkpoint_ops, channels_last=channels_last)


__all__ = ["NONE_OPS", "Supernet", "to_supernet"]
