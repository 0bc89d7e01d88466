"""NAS-Bench-201: the cell space of Dong & Yang (ICLR 2020), as a trainable model space.

A cell has 4 nodes; node ``k`` sums one operation on each earlier node ``j`` (6 edges), each edge
one of ``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``: 5^6 =
15,625 cells. The network: a 3x3 conv stem, three stages of ``num_cells`` cells (16, 32, 64
channels by default) joined by residual reduction blocks, BN-ReLU, global pooling and a linear
classifier. Every cell shares one genotype, so the six edge decisions are shared labels
``edge_{k}_{j}``. The layer structure follows the benchmark's reference implementation, so the
parameter counts equal the benchmark table's (tested).

Many cells are one cell by NB201's count: :func:`isomorphism_key` is its isomorphism class of a cell
(``CellStructure.to_unique_str(consider_zero=True)``: each node is the sorted sum of its incoming
terms, ``skip_connect`` passes its source's expression on, an op writes ``(source)@op``, and a
``none`` edge, or an edge out of a node that is exactly zero, writes the zero term ``#``; only the
output node's expression counts, so edges that never reach the output do not matter): 6,466
classes of the 15,625 cells. :meth:`NasBench201.equivalence_key` gives it to the one-shot
re-check, so it trains one cell per class.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping
from typing import Any

import torch
from torch import nn

from archspace.errors import SampleError, SpaceDefinitionError
from archspace.nn import LayerChoice, ModelSpace
from archspace.space.labels import edge_label
from archspace.space.samples import Sample

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = tuple((k, j) for k in range(1, 4) for j in range(k))  # (to, from), in arch-string order
#: A ResNet basic block as a cell (conv 3x3, conv 3x3, plus the input): the default sample.
RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, batch norm: NB201's convolution unit (``affine=False``: its search form)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class Zero(nn.Module):
    """The ``none`` operation: an all-zero output of the input's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ResidualReduction(nn.Module):
    """NB201's ResNet basic block between stages: stride 2, channels doubled, pooled shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_op(name: str, channels: int, affine: bool = True) -> nn.Module:
    """One NB201 edge operation (``affine``: the convolutions' batch norms learn a scale and shift)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    raise SpaceDefinitionError(f"unknown NB201 op {name!r}; ops are {list(OPS)}")


class NB201Cell(nn.Module):
    """One cell: six LayerChoice edges with the shared labels ``edge_{to}_{from}``."""

    def __init__(self, channels: int, affine: bool = True) -> None:
        super().__init__()
        self.edges = nn.ModuleDict({
            f"{k}_{j}": LayerChoice({op: make_op(op, channels, affine) for op in OPS}, label=edge_label(k, j))
            for k, j in EDGES
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for k in range(1, 4):
            nodes.append(sum(self.edges[f"{k}_{j}"](nodes[j]) for j in range(k)))
        return nodes[3]


class NasBench201(ModelSpace):
    """The NAS-Bench-201 space.

    Args:
        channels: channels of the first stage (16 in the benchmark).
        num_cells: cells per stage (5 in the benchmark).
        num_classes: classifier outputs (10 for CIFAR-10).
        search: the search form NB201's own one-shot searches train (``affine=False`` in
            the cells' batch norms, as the benchmark's GDAS script and the NB201 cells of
            DrNAS's, DARTS-PT's and β-DARTS's code build their supernets): an op cannot rescale or shift its output
            through a learned batch-norm affine, so how much an edge contributes is left to
            the architecture weights. The stem, the residual reductions and the last batch norm
            stay affine, as there. Running statistics are tracked in both forms (NB201's
            ``--track_running_stats 1``), so inherited-weight scoring and batch-norm
            recalibration work alike. The one-shot re-check trains its candidates in the
            stand-alone form (:meth:`standalone_form`), the table's.

    Example:
        >>> space = NasBench201(channels=8, num_cells=1)
        >>> space.size()
        15625
        >>> arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        >>> to_arch_str(from_arch_str(arch)) == arch
        True
    """

    def __init__(self, channels: int = 16, num_cells: int = 5, num_classes: int = 10, search: bool = False) -> None:
        super().__init__()
        if not isinstance(search, bool):
            raise SpaceDefinitionError(f"NasBench201 search must be a bool (True: the one-shot search form with "
                                       f"non-affine batch norm in the cells), got {search!r}")
        self.search_form = search
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, c * 2))
                c *= 2
            layers += [NB201Cell(c, affine=not search) for _ in range(num_cells)]
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(self.pool(x).flatten(1))

    def default_sample(self) -> Sample:
        """:data:`RESNET_CELL`, a ResNet basic block written as a cell.

        The first candidate of every edge (the generic default) is ``none`` everywhere: a cell cut
        off from its input, whose network answers the same for every image.
        """
        return self.validate(from_arch_str(RESNET_CELL))

    @classmethod
    def small(cls, *, oneshot: bool = False) -> NasBench201:
        """A small instance for tests and smoke runs: 4 channels, 1 cell per stage; with
        ``oneshot=True`` the search form (non-affine batch norm in the cells)."""
        return cls(channels=4, num_cells=1, search=oneshot)

    def standalone_form(self) -> NasBench201:
        """This space with ``search=False``: where a sample found on the search form is trained alone
        (the one-shot re-check, retraining), as NB201 and Fashion-201 train every cell. The same
        labels and ops, so every sample of one form is a sample of the other."""
        if not self.search_form:
            return self
        args, kwargs = self.__dict__["_asp_init_args"]
        bound = inspect.signature(type(self)).bind(*args, **kwargs)
        bound.arguments["search"] = False
        return type(self)(*bound.args, **bound.kwargs)

    @staticmethod
    def example_input(batch_size: int = 2) -> torch.Tensor:
        """A random CIFAR-shaped batch, ``(batch_size, 3, 32, 32)``."""
        return torch.randn(batch_size, 3, 32, 32)

    def equivalence_key(self, sample: Mapping[str, Any]) -> Hashable | None:
        """The cell's isomorphism class (:func:`isomorphism_key`; None for a sample that is not a
        whole cell). Equal keys are one network up to a relabelling of nodes and edges that never
        reach the output — and, by NB201's convention, which compares the expressions nodes sum,
        up to two things that do change the network: ops on edges out of a node that is exactly
        zero (they still add their batch norm's shift and parameters), and an op reached through
        a skip against the same op placed directly (``op(x)`` shared by two nodes or computed twice
        by two ops with their own weights). NB201's table, and Fashion-201's, count each class as
        one cell, so a search keyed to the table should be too."""
        try:
            return isomorphism_key(to_arch_str(sample))
        except SampleError:
            return None


def isomorphism_key(arch: str) -> str:
    """NB201's isomorphism key of an arch string (see the module docstring).

    Example:
        >>> a = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
        >>> b = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
        >>> isomorphism_key(a) == isomorphism_key(b)  # node 1 never reaches the output
        True
        >>> c = "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"
        >>> d = "|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"
        >>> isomorphism_key(c) == isomorphism_key(d)  # a 3x3 and a 1x1 conv of the input, summed
        True
    """
    sample = from_arch_str(arch)
    nodes = ["0"]
    for k in range(1, 4):
        terms = []
        for j in range(k):
            op, source = sample[edge_label(k, j)], nodes[j]
            if op == "none" or source == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(source)
            else:
                terms.append(f"({source})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[3]


def to_arch_str(sample: Mapping[str, Any]) -> str:
    """The NB201 architecture string of a sample, e.g. ``|nor_conv_3x3~0|+|...|``."""
    groups = []
    for k in range(1, 4):
        ops = []
        for j in range(k):
            op = sample.get(edge_label(k, j))
            if op not in OPS:
                raise SampleError(f"label {edge_label(k, j)!r} has value {op!r}; NB201 ops are {list(OPS)}")
            ops.append(f"{op}~{j}")
        groups.append("|" + "|".join(ops) + "|")
    return "+".join(groups)


def from_arch_str(arch: str) -> dict[str, str]:
    """The sample of an NB201 architecture string."""
    groups = arch.split("+")
    if len(groups) != 3:
        raise SampleError(f"NB201 arch string {arch!r} must have 3 '+'-separated node groups")
    sample: dict[str, str] = {}
    for k, group in enumerate(groups, start=1):
        items = [item for item in group.strip("|").split("|") if item]
        if len(items) != k:
            raise SampleError(f"NB201 arch string {arch!r}: node {k} must list {k} edges, got {items}")
        for j, item in enumerate(items):
            op, _, source = item.partition("~")
            if op not in OPS or source != str(j):
                raise SampleError(f"NB201 arch string {arch!r}: bad edge {item!r} into node {k} (expected 'op~{j}', op in {list(OPS)})")
            sample[edge_label(k, j)] = op
    return sample


__all__ = ["EDGES", "OPS", "RESNET_CELL", "NasBench201", "from_arch_str", "isomorphism_key", "make_op", "to_arch_str"]
