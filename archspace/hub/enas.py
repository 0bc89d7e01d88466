"""The ENAS CIFAR-10 spaces — Pham et al., "Efficient Neural Architecture Search via Parameter
Sharing", ICML 2018 (arXiv 1802.03268), sections 2.3 (macro) and 2.4 (micro).

**Macro** (:class:`EnasMacroSpace`, the paper's 12-layer network): every layer applies one of six
operations to the previous layer's output — conv 3x3 / 5x5, depthwise-separable conv 3x3 / 5x5,
max / avg pool 3x3 (each preceded by a 1x1 conv, batch norm and ReLU, as the official code does) —
adds the outputs of any subset of the earlier layers (skip connections) and applies batch norm.
Labels: ``layer_{i}/op`` (the operation) and ``layer_{i}/skip_{j}`` for ``j < i``: an
:class:`~archspace.InputChoice` between the sum without (value 0) and with (value 1) layer ``j``'s
output. The paper's controller decides each skip independently; one binary InputChoice per pair is
that decision as data (an InputChoice over "any subset" of ``i`` layers would have 2^i values).
After a third and two thirds of the layers every kept output is halved in resolution
(factorized reduction, the official code's pooling layers). Paper: 12 layers, 36 channels
(search), 96% (4.23% error) at 512 channels retrained with the search's 12 layers.

**Micro** (:class:`EnasMicroSpace`, the paper's cells): each cell has two inputs (the two previous
cells' outputs) and 5 nodes; each node picks two earlier states (``{cell}/input_{node}_{k}``) and
an operation for each (``{cell}/op_{node}_{k}``: identity, separable conv 3x3 / 5x5, avg / max pool
3x3) and adds the two results. Cells come in two kinds sharing their decisions (``normal/...`` and
``reduce/...``); a reduction cell first halves its inputs' resolution (factorized reduction,
as the official code does) and doubles the channels. The cell's output combines the nodes no other
node reads (the loose ends): the paper concatenates them and mixes with a 1x1 conv; here they are
averaged, then ReLU, 1x1 conv and batch norm — a fixed width whatever their number, so every
sampled cell feeds the next one unchanged (a deviation; see :class:`LooseEndMerge`).

Both spaces take ``in_channels`` (1 for Fashion-MNIST's 28x28 grayscale images).

Example:
    >>> space = EnasMacroSpace(width=8, num_layers=4)
    >>> decisions = space.search_space()
    >>> list(decisions["layer_1/op"].values)
    ['conv3x3', 'conv5x5', 'sepconv3x3', 'sepconv5x5', 'maxpool', 'avgpool']
    >>> sorted(label for label in decisions if label.startswith("layer_2/"))
    ['layer_2/op', 'layer_2/skip_0', 'layer_2/skip_1']
    >>> list(EnasMicroSpace.small().search_space()["normal/op_2_0"].values)
    ['identity', 'sepconv3x3', 'sepconv5x5', 'avgpool', 'maxpool']
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn import Cell, InputChoice, LayerChoice, ModelSpace
from archspace.space.labels import cell_input_label, cell_op_label, skip_label
from archspace.space.samples import Sample

MACRO_OPS = ("conv3x3", "conv5x5", "sepconv3x3", "sepconv5x5", "maxpool", "avgpool")
MICRO_OPS = ("identity", "sepconv3x3", "sepconv5x5", "avgpool", "maxpool")


def _positive(owner: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpaceDefinitionError(f"{owner} {name} must be a positive int, got {value!r}")
    return value


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 1, groups: int = 1) -> nn.Sequential:
    """Convolution ('same' padding), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def macro_op(name: str, channels: int) -> nn.Module:
    """One macro-space operation: a 1x1 conv-bn-relu, then the conv (or pool) of ``name``."""
    if name not in MACRO_OPS:
        raise SpaceDefinitionError(f"unknown ENAS macro op {name!r}; ops are {list(MACRO_OPS)}")
    first = conv_bn_relu(channels, channels)
    if name.endswith("pool"):
        pool = nn.MaxPool2d(3, 1, 1) if name == "maxpool" else nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        return nn.Sequential(first, pool)
    k = int(name[-1])
    if name.startswith("sep"):
        return nn.Sequential(first, nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=False),
                             *conv_bn_relu(channels, channels))
    return nn.Sequential(first, *conv_bn_relu(channels, channels, k))


class SepConv(nn.Sequential):
    """ReLU, depthwise kxk conv, pointwise conv, batch norm — twice (the ENAS / NASNet separable conv)."""

    def __init__(self, channels: int, kernel: int) -> None:
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.ReLU(inplace=False),
                       nn.Conv2d(channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False),
                       nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)]
        super().__init__(*layers)


def micro_op(name: str, channels: int) -> nn.Module:
    """One micro-space operation (stride 1: a reduction cell halves its inputs beforehand)."""
    if name == "identity":
        return nn.Identity()
    if name in ("sepconv3x3", "sepconv5x5"):
        return SepConv(channels, int(name[-1]))
    if name == "avgpool":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    if name == "maxpool":
        return nn.MaxPool2d(3, 1, 1)
    raise SpaceDefinitionError(f"unknown ENAS micro op {name!r}; ops are {list(MICRO_OPS)}")


def _micro_ops(channels: int, node: int, k: int, source: int) -> dict[str, nn.Module]:
    """A micro cell's candidate ops of one edge (every edge: the same ops, stride 1)."""
    return {name: micro_op(name, channels) for name in MICRO_OPS}


class FactorizedReduce(nn.Module):
    """Halves the resolution with two offset stride-2 1x1 convolutions, then batch norm."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class MacroLayer(nn.Module):
    """One macro layer: the chosen op on the previous output, the chosen skips added, batch norm."""

    def __init__(self, index: int, channels: int) -> None:
        super().__init__()
        self.op = LayerChoice({name: macro_op(name, channels) for name in MACRO_OPS}, label=f"layer_{index}/op")
        self.skips = nn.ModuleList(InputChoice(2, 1, label=skip_label(f"layer_{index}", j)) for j in range(index))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, previous: list[torch.Tensor]) -> torch.Tensor:
        out = self.op(previous[-1])
        for skip, earlier in zip(self.skips, previous):
            out = skip([out, out + earlier])
        return self.bn(out)


class EnasMacroSpace(ModelSpace):
    """The ENAS macro space (see the module docstring).

    Args:
        width: channels of every layer (paper: 36 in search, 512 retrained).
        num_layers: layers (paper: 12); reductions after a third and two thirds of them.
        num_classes: classifier outputs.
        in_channels: image channels (3 for CIFAR, 1 for Fashion-MNIST).
        dropout: dropout before the classifier (the official code keeps 0.9: ``0.1``).
    """

    def __init__(self, width: int = 36, num_layers: int = 12, num_classes: int = 10, *, in_channels: int = 3,
                 dropout: float = 0.1) -> None:
        super().__init__()
        width = _positive("EnasMacroSpace", "width", width)
        num_layers = _positive("EnasMacroSpace", "num_layers", num_layers)
        num_classes = _positive("EnasMacroSpace", "num_classes", num_classes)
        in_channels = _positive("EnasMacroSpace", "in_channels", in_channels)
        if not 0 <= dropout < 1:
            raise SpaceDefinitionError(f"EnasMacroSpace dropout must be in [0, 1), got {dropout!r}")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.layers = nn.ModuleList(MacroLayer(i, width) for i in range(num_layers))
        distance = max(num_layers // 3, 1)
        self.pool_after = sorted({distance - 1, 2 * distance - 1} & set(range(num_layers - 1)))
        # One factorized reduction per kept output at every reduction point.
        self.reduce = nn.ModuleDict({str(p): nn.ModuleList(FactorizedReduce(width, width) for _ in range(p + 1))
                                     for p in self.pool_after})
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes)

    def default_sample(self) -> Sample:
        """conv 3x3 everywhere with every skip connection taken (densely connected): every layer
        and every reduced output is used. Without skips the reduced copies of earlier outputs that
        only skips read would be dead weight."""
        decisions = self.search_space()
        return self.validate({label: ("conv3x3" if label.endswith("/op") else 1) for label in decisions})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        x = self.stem(x)
        for i, layer in enumerate(self.layers):
            outputs.append(layer(outputs or [x]))
            if str(i) in self.reduce:
                outputs = [reduce(out) for reduce, out in zip(self.reduce[str(i)], outputs)]  # type: ignore[call-overload]
        pooled = nn.functional.adaptive_avg_pool2d(outputs[-1], 1).flatten(1)
        return self.classifier(self.dropout(pooled))

    @classmethod
    def small(cls, *, oneshot: bool = False) -> EnasMacroSpace:
        """A small instance for tests and smoke runs: 4 channels, 3 layers (one form, so
        ``oneshot`` changes nothing)."""
        return cls(width=4, num_layers=3)

    @staticmethod
    def example_input(batch_size: int = 2) -> torch.Tensor:
        """A random RGB batch, ``(batch_size, 3, 8, 8)``: small, so a global average of the last
        feature map still varies with the input (the contract checks that the output does)."""
        return torch.randn(batch_size, 3, 8, 8)


class LooseEndMerge(nn.Module):
    """A micro cell's postprocessor: the mean of its loose-end nodes, then ReLU, 1x1 conv, batch norm.

    The cell concatenates the loose ends along the batch dimension (``concat_dim=0``), so this
    module sees ``(n * batch, C, H, W)`` for ``n`` loose ends and averages the ``n`` groups: the
    width stays ``C`` whichever nodes the sample leaves unread.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.mix = conv_bn_relu(channels, channels)

    def forward(self, out: torch.Tensor, inputs: list[torch.Tensor]) -> torch.Tensor:
        batch = inputs[0].shape[0]
        merged = out.reshape(-1, batch, *out.shape[1:]).mean(0)
        return self.mix(merged)


class MicroPreprocess(nn.Module):
    """Brings the two previous cells' outputs to this cell's channels and resolution: a 1x1
    conv-bn-relu, or one factorized reduction per halving an input needs (two when a reduction
    cell follows a reduction cell)."""

    def __init__(self, c_pp: int, c_p: int, c: int, halve_pp: int, halve_p: int) -> None:
        super().__init__()
        self.pre0 = self._adapt(c_pp, c, halve_pp)
        self.pre1 = self._adapt(c_p, c, halve_p)

    @staticmethod
    def _adapt(c_in: int, c: int, halvings: int) -> nn.Module:
        if halvings == 0:
            return conv_bn_relu(c_in, c)
        return nn.Sequential(*(FactorizedReduce(c_in if step == 0 else c, c) for step in range(halvings)))

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.pre0(inputs[0]), self.pre1(inputs[1])]


class EnasMicroSpace(ModelSpace):
    """The ENAS micro (cell) space (see the module docstring).

    Args:
        width: channels of the first cells (paper: 20 in search); doubled by each reduction cell.
        num_layers: normal cells, in three stages with a reduction cell between stages (paper's
            search network: 6, i.e. 2 per stage).
        num_nodes: nodes per cell (paper: 5).
        num_classes: classifier outputs.
        in_channels: image channels (3 for CIFAR, 1 for Fashion-MNIST).
    """

    def __init__(self, width: int = 20, num_layers: int = 6, num_nodes: int = 5, num_classes: int = 10, *,
                 in_channels: int = 3) -> None:
        super().__init__()
        width = _positive("EnasMicroSpace", "width", width)
        num_layers = _positive("EnasMicroSpace", "num_layers", num_layers)
        self.num_nodes = _positive("EnasMicroSpace", "num_nodes", num_nodes)
        num_classes = _positive("EnasMicroSpace", "num_classes", num_classes)
        in_channels = _positive("EnasMicroSpace", "in_channels", in_channels)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 3 * width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(3 * width))
        stages = [num_layers // 3 + (1 if s < num_layers % 3 else 0) for s in range(3)]
        kinds = [False] * stages[0] + [True] + [False] * stages[1] + [True] + [False] * stages[2]
        c_pp = c_p = 3 * width
        c = width
        level_pp = level_p = 0  # how many times each input's resolution has been halved
        self.cells = nn.ModuleList()
        for reduction in kinds:
            level = level_p + int(reduction)
            if reduction:
                c *= 2
            pre = MicroPreprocess(c_pp, c_p, c, halve_pp=level - level_pp, halve_p=level - level_p)
            cell = Cell(functools.partial(_micro_ops, c),
                            num_nodes=self.num_nodes, num_ops_per_node=2, num_predecessors=2, merge_op="loose_end",
                            preprocessor=pre, postprocessor=LooseEndMerge(c), concat_dim=0,
                            label="reduce" if reduction else "normal")
            self.cells.append(cell)
            c_pp, c_p = c_p, c
            level_pp, level_p = level_p, level
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def default_sample(self) -> Sample:
        """A chain through every node (node ``i`` reads nodes ``i-1`` and ``i-2``; sep conv 3x3 and
        identity), so every cell input and node is used — the first candidate of every decision
        would wire every node to input 0 and leave the previous cell unread."""
        sample: Sample = {}
        for cell in ("normal", "reduce"):
            for i in range(2, 2 + self.num_nodes):
                for k, (source, op) in enumerate(((i - 1, "sepconv3x3"), (i - 2, "identity"))):
                    sample[cell_input_label(cell, i, k)] = source
                    sample[cell_op_label(cell, i, k)] = op
        return self.validate(sample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.pool(torch.relu(s1)).flatten(1))

    @classmethod
    def small(cls, *, oneshot: bool = False) -> EnasMicroSpace:
        """A small instance for tests and smoke runs: 4 channels, 2 nodes, 3 cells (normal,
        reduction, reduction); one form, so ``oneshot`` changes nothing."""
        return cls(width=4, num_layers=1, num_nodes=2)

    @staticmethod
    def example_input(batch_size: int = 2) -> torch.Tensor:
        """A random RGB batch, ``(batch_size, 3, 8, 8)``: small, so a global average of the last
        feature map still varies with the input (the contract checks that the output does)."""
        return torch.randn(batch_size, 3, 8, 8)


__all__ = ["MACRO_OPS", "MICRO_OPS", "EnasMacroSpace", "EnasMicroSpace", "FactorizedReduce", "LooseEndMerge",
           "MacroLayer", "MicroPreprocess", "SepConv", "macro_op", "micro_op"]
