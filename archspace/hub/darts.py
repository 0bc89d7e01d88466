"""The DARTS CIFAR-10 space — Liu, Simonyan & Yang, ICLR 2019 (from NASNet's cell design).

Normal and reduction cells with 4 nodes; each node sums 2 ops, each on one earlier state (the two
previous cells' outputs or earlier nodes). Ops: max/avg pool 3x3, skip connect, separable conv
3x3/5x5, dilated conv 3x3/5x5, and — in the search form only — ``none``; in a reduction cell, ops
on the cell inputs have stride 2. All normal cells share one genotype (labels ``normal/...``) and
all reduction cells another (``reduce/...``): ``normal/op_{node}_{k}`` is the op of term ``k`` of
node ``node`` (nodes count from 2, after the two cell inputs) and ``normal/input_{node}_{k}`` the
state it reads (an int).

Two forms:

- ``search=True`` (one-shot search, the paper's section 3.1): ``none`` is offered, batch norm in
  the ops is non-affine and pooling is followed by batch norm. Paper: 8 cells, 16 channels.
- ``search=False`` (retraining and multi-trial search, section 3.2): ``none`` is not offered — the
  paper never keeps it in a derived cell (its derivation rule skips it) — and batch norm is
  affine. Paper: 20 cells, 36 channels, auxiliary head, drop path.

:meth:`DartsSpace.default_sample` is DARTS-V2, the cell of the paper's table 1 (3.3M parameters
at 20 cells and 36 channels), not the first candidate of each decision: that would wire every
node to input 0 (the cell two back), leaving every other cell unused.

Coming from NNI (``nni.nas.hub.pytorch.DARTS``):

=======================  ================================================================
NNI                      archspace
=======================  ================================================================
``width=36``             ``width=36`` (alias ``channels``); an int: NNI's tuple form, which
                         makes the width a decision, is not supported
``num_cells=20``         ``num_cells=20`` (alias ``layers``); an int, as above
``dataset="cifar"``      ``dataset="cifar"`` or ``"imagenet"`` (stem and auxiliary head)
``auxiliary_loss=True``  ``auxiliary_loss=True`` (alias ``auxiliary``)
``drop_path_prob=0.2``   ``drop_path_prob=0.2``; change it per epoch with
                         :meth:`~DartsSpace.set_drop_path` (or ``set_drop_path_prob``)
``DARTS(...)``           ``DartsSpace(..., search=False)``: NNI's DARTS has no ``none`` op
labels                   the same (``normal/op_2_0``, ``reduce/input_5_1``, ...)
input values ``[0]``     ``0``: convert NNI dicts with :func:`from_nni_darts`
                         (:func:`to_nni_darts` goes back)
=======================  ================================================================

Example:
    >>> import archspace as asp
    >>> nni_arch = {"normal/op_2_0": "sep_conv_3x3", "normal/input_2_0": [0]}
    >>> from_nni_darts(nni_arch)
    {'normal/op_2_0': 'sep_conv_3x3', 'normal/input_2_0': 0}
    >>> import torch
    >>> with torch.device("meta"), asp.fixed_arch(DARTS_V2):  # shapes only: counts in a blink
    ...     model = DartsSpace(width=36, num_cells=20, search=False)
    >>> round(asp.count_params(model) / 1e6, 2)
    3.35
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from archspace.errors import SampleError, SpaceDefinitionError
from archspace.hub._darts_ops import (
    OPS,
    RETRAIN_OPS,
    AuxiliaryHead,
    DilConv,
    DropPath,
    FactorizedReduce,
    ImageNetStem,
    Preprocess,
    ReLUConvBN,
    SepConv,
    Zero,
    make_op,
)
from archspace.nn import Cell, ModelSpace
from archspace.space.labels import cell_input_label, cell_op_label, parse_cell_label
from archspace.space.samples import Sample

DATASETS = ("cifar", "imagenet")


def _alias(name: str, value: Any, old_name: str, old_value: Any, default: Any) -> Any:
    """``value`` or its older alias ``old_value`` (archspace's earlier argument name), not both."""
    if value is not None and old_value is not None and value != old_value:
        raise SpaceDefinitionError(
            f"DartsSpace got {name}={value!r} and its alias {old_name}={old_value!r}; pass only {name}"
        )
    if value is not None:
        return value
    return old_value if old_value is not None else default


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        hint = (" (NNI's tuple form, which makes it a decision, is not supported: pass one int)"
                if isinstance(value, (tuple, list)) else "")
        raise SpaceDefinitionError(f"DartsSpace {name} must be a positive int, got {value!r}{hint}")
    return value


class DartsSpace(ModelSpace):
    """The DARTS CNN space (see the module docstring for the two forms and NNI's names).

    Args:
        width: initial channels per op (search 16, retrain 36; alias ``channels``).
        num_cells: cells (search 8, retrain 20; alias ``layers``); reduction cells at 1/3 and 2/3
            of the depth.
        num_classes: classifier outputs; default 10 for ``"cifar"``, 1000 for ``"imagenet"``.
        dataset: ``"cifar"`` (32x32 inputs, one 3x3 stem) or ``"imagenet"`` (224x224 inputs, the
            three stride-2 convolutions of DARTS's ImageNet network).
        auxiliary_loss: add the auxiliary head at 2/3 depth; training returns
            ``(logits, aux_logits)`` (alias ``auxiliary``).
        drop_path_prob: the initial drop-path probability of every op but skip connect (DARTS
            raises it linearly to 0.2 while retraining: call :meth:`set_drop_path` each epoch).
        search: the search form (offers ``none``, non-affine batch norm, batch norm after pools);
            ``False`` for retraining and multi-trial search.
        channels: older name of ``width``.
        layers: older name of ``num_cells``.
        auxiliary: older name of ``auxiliary_loss``.

    Example:
        >>> space = DartsSpace(width=4, num_cells=5, search=False)
        >>> "none" in space.search_space()["normal/op_2_0"].values
        False
        >>> space.default_sample() == DARTS_V2
        True
    """

    def __init__(self, width: int | None = None, num_cells: int | None = None, num_classes: int | None = None, *,
                 dataset: str = "cifar", auxiliary_loss: bool | None = None, drop_path_prob: float = 0.0,
                 search: bool = True, channels: int | None = None, layers: int | None = None,
                 auxiliary: bool | None = None) -> None:
        super().__init__()
        width = _positive_int("width", _alias("width", width, "channels", channels, 16))
        num_cells = _positive_int("num_cells", _alias("num_cells", num_cells, "layers", layers, 8))
        with_aux = bool(_alias("auxiliary_loss", auxiliary_loss, "auxiliary", auxiliary, False))
        if dataset not in DATASETS:
            raise SpaceDefinitionError(f"DartsSpace dataset must be one of {list(DATASETS)}, got {dataset!r}")
        if isinstance(drop_path_prob, bool) or not isinstance(drop_path_prob, (int, float)) or not 0 <= drop_path_prob < 1:
            raise SpaceDefinitionError(f"DartsSpace drop_path_prob must be a number in [0, 1), got {drop_path_prob!r}")
        if num_classes is None:
            num_classes = 10 if dataset == "cifar" else 1000
        num_classes = _positive_int("num_classes", num_classes)
        self.dataset = dataset
        affine = not search
        op_names = OPS if search else RETRAIN_OPS
        self.stem: nn.Module
        if dataset == "cifar":
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * width, 3, padding=1, bias=False), nn.BatchNorm2d(3 * width))
            c_pp, c_p, reduction_prev = 3 * width, 3 * width, False
        else:
            self.stem = ImageNetStem(width)
            c_pp, c_p, reduction_prev = width, width, True
        c = width
        self.cells = nn.ModuleList()
        self.aux_position = 2 * num_cells // 3
        aux_channels = 0
        for i in range(num_cells):
            reduction = i in (num_cells // 3, 2 * num_cells // 3)
            if reduction:
                c *= 2

            def ops(node: int, k: int, inp: int, c: int = c, reduction: bool = reduction) -> dict[str, nn.Module]:
                stride = 2 if reduction and inp < 2 else 1
                return {name: make_op(name, c, stride, affine, search) for name in op_names}

            cell = Cell(ops, num_nodes=4, num_ops_per_node=2, num_predecessors=2, merge_op="all",
                            preprocessor=Preprocess(c_pp, c_p, c, reduction_prev, affine),
                            label="reduce" if reduction else "normal")
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c
            if i == self.aux_position:
                aux_channels = c_p
        self.auxiliary = (AuxiliaryHead(aux_channels, num_classes, stride=3 if dataset == "cifar" else 2)
                          if with_aux else None)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        if drop_path_prob:
            self.set_drop_path(float(drop_path_prob))

    def default_sample(self) -> Sample:
        """DARTS-V2 (:data:`DARTS_V2`), the paper's published cell: a working, well-known network.

        The first candidate of every decision (the generic default) would wire every node to
        input 0, the cell two back, and leave every other cell unused.
        """
        return self.validate(DARTS_V2)

    def set_drop_path(self, p: float) -> None:
        """Set the drop-path probability of every op."""
        for module in self.modules():
            if isinstance(module, DropPath):
                module.p = p

    def set_drop_path_prob(self, p: float) -> None:
        """NNI's name for :meth:`set_drop_path`."""
        self.set_drop_path(p)

    def forward(self, x: torch.Tensor) -> Any:
        if self.dataset == "cifar":
            s0 = s1 = self.stem(x)
        else:
            s0, s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_position and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        logits = self.classifier(self.pool(s1).flatten(1))
        return (logits, aux) if aux is not None else logits

    @classmethod
    def small(cls, *, oneshot: bool = False) -> DartsSpace:
        """A small instance for tests and smoke runs: 4 channels, 3 cells (normal, reduction,
        reduction), the multi-trial form; with ``oneshot=True`` the search form (``none`` offered,
        non-affine batch norm), which a one-shot supernet trains."""
        return cls(width=4, num_cells=3, search=oneshot)

    @staticmethod
    def example_input(batch_size: int = 2) -> torch.Tensor:
        """A random CIFAR-shaped batch, ``(batch_size, 3, 32, 32)``."""
        return torch.randn(batch_size, 3, 32, 32)


def from_genotype(normal: Sequence[tuple[str, int]], reduce: Sequence[tuple[str, int]]) -> Sample:
    """The sample of a genotype in the DARTS code's form: per cell type, 8 ``(op, input)`` pairs,
    two per node in node order (inputs 0 and 1 are the cell inputs, 2.. the earlier nodes).

    Raises:
        SampleError: a cell does not list 8 pairs.
    """
    sample: Sample = {}
    for cell, pairs in (("normal", normal), ("reduce", reduce)):
        if len(pairs) != 8:
            raise SampleError(f"the {cell} genotype must list 8 (op, input) pairs (2 per node, 4 nodes), got {len(pairs)}")
        for index, (op, source) in enumerate(pairs):
            node, k = 2 + index // 2, index % 2
            sample[cell_input_label(cell, node, k)] = source
            sample[cell_op_label(cell, node, k)] = op
    return sample


def from_nni_darts(arch: Mapping[str, Any]) -> Sample:
    """An architecture dict of NNI's DARTS space (``nni.nas.hub.pytorch.DARTS``) as our sample.

    The labels are the same; NNI gives each ``input`` decision as a one-element list (``[0]``),
    archspace as the int. Values already in archspace's form pass unchanged, so the function can
    be applied to either. Check the result against a space with ``space.validate(...)``.

    Raises:
        SampleError: a label that is not ``normal|reduce/op|input_{node}_{k}``, an input that is not
            an int or a one-element list of one, or an op that is not a string.
    """
    sample: Sample = {}
    for label, value in arch.items():
        parsed = parse_cell_label(label)
        if parsed is None or parsed.cell not in ("normal", "reduce"):
            raise SampleError(f"label {label!r} is not a DARTS cell label (normal|reduce/op|input_<node>_<k>, "
                              "e.g. 'normal/op_2_0')")
        if parsed.kind == "op":
            if not isinstance(value, str):
                raise SampleError(f"label {label!r} has value {value!r}; an op is a name, one of {list(OPS)}")
            sample[label] = value
            continue
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int):
            raise SampleError(f"label {label!r} has value {value!r}; an input is an int or a one-element list "
                              f"of one (NNI's form), e.g. [0]")
        sample[label] = value
    return sample


def to_nni_darts(sample: Mapping[str, Any]) -> dict[str, Any]:
    """Our sample in NNI's DARTS form (``input`` values as one-element lists); the inverse of
    :func:`from_nni_darts`."""
    checked = from_nni_darts(sample)
    return {label: [value] if _is_input(label) else value for label, value in checked.items()}


def _is_input(label: str) -> bool:
    """Whether ``label`` is a cell's ``input`` decision (NNI writes those values as lists)."""
    parsed = parse_cell_label(label)
    return parsed is not None and parsed.kind == "input"


#: DARTS-V2 (second-order DARTS, the paper's table 1: 2.76% CIFAR-10 test error, 3.3M parameters).
DARTS_V2: Sample = from_genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
)


# The ops are re-exported: archspace.hub.darts stays the one import path for everything DARTS.
__all__ = ["DARTS_V2", "DATASETS", "OPS", "RETRAIN_OPS", "AuxiliaryHead", "DartsSpace", "DilConv", "DropPath",
           "FactorizedReduce", "ImageNetStem", "Preprocess", "ReLUConvBN", "SepConv", "Zero", "from_genotype",
           "from_nni_darts", "make_op", "to_nni_darts"]
