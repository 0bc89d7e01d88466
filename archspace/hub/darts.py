"""The DARTS CIFAR-10 space — Liu, Simonyan & Yang, ICLR 2019 (from NASNet's cell design).

Normal and reduction cells with 4 nodes; each node sums 2 ops, each on one earlier state (the two
previous cells' outputs or earlier nodes). Ops: none, max/avg pool 3x3, skip connect, separable
conv 3x3/5x5, dilated conv 3x3/5x5; in a reduction cell, ops on the cell inputs have stride 2. All
normal cells share one genotype (labels ``normal/...``) and all reduction cells another
(``reduce/...``). Search: 8 cells, 16 initial channels, non-affine batch norm in ops, pooling
followed by batch norm (as the paper's search network). Retraining: 20 cells, 36 channels,
auxiliary head, drop path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import archspace as asp

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions (the DARTS separable conv)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False), nn.Conv2d(c_in, c_in, kernel, stride, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False), nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False), nn.Conv2d(c_in, c_in, kernel, 1, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """A dilated depthwise-separable convolution."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halves the resolution with two offset stride-2 1x1 convolutions (skip connect at stride 2)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` op (zeros, strided like the other ops)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class DropPath(nn.Module):
    """Drops a whole op output per sample with probability ``p`` while training (Zoph et al.)."""

    def __init__(self) -> None:
        super().__init__()
        self.p = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p <= 0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
        return x / keep * mask


def make_op(name: str, channels: int, stride: int, affine: bool, search: bool) -> nn.Module:
    """One DARTS op; ops other than skip/none are followed by drop path."""
    op: nn.Module
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, affine)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = nn.MaxPool2d(3, stride, 1) if name.startswith("max") else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        op = nn.Sequential(pool, nn.BatchNorm2d(channels, affine=False)) if search else pool
    elif name.startswith("sep_conv"):
        k = int(name[-1])
        op = SepConv(channels, channels, k, stride, k // 2, affine)
    elif name.startswith("dil_conv"):
        k = int(name[-1])
        op = DilConv(channels, channels, k, stride, 2 * (k // 2), 2, affine)
    else:
        raise ValueError(f"unknown DARTS op {name!r}; ops are {list(OPS)}")
    return nn.Sequential(op, DropPath())


class Preprocess(nn.Module):
    """Brings the two previous cells' outputs to this cell's channels (and resolution)."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction_prev: bool, affine: bool) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c, affine) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, affine)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.pre0(inputs[0]), self.pre1(inputs[1])]


class AuxiliaryHead(nn.Module):
    """The auxiliary classifier of DARTS/NASNet at 2/3 depth (8x8 inputs)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsSpace(asp.ModelSpace):
    """The DARTS CIFAR-10 CNN space.

    Args:
        channels: initial channels (search 16, retrain 36).
        layers: cells (search 8, retrain 20); reductions at 1/3 and 2/3 of the depth.
        num_classes: classifier outputs.
        auxiliary: add the auxiliary head (training returns ``(logits, aux_logits)``).
        search: the search network's details (non-affine batch norm in ops, batch norm after pools).

    Call :meth:`set_drop_path` each epoch when retraining (DARTS raises it linearly to 0.2).
    """

    def __init__(self, channels: int = 16, layers: int = 8, num_classes: int = 10, auxiliary: bool = False,
                 search: bool = True) -> None:
        super().__init__()
        affine = not search
        stem = 3 * channels
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem))
        c_pp, c_p, c = stem, stem, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_position = 2 * layers // 3
        aux_channels = 0
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2

            def ops(node: int, k: int, inp: int, c: int = c, reduction: bool = reduction) -> dict[str, nn.Module]:
                stride = 2 if reduction and inp < 2 else 1
                return {name: make_op(name, c, stride, affine, search) for name in OPS}

            cell = asp.Cell(ops, num_nodes=4, num_ops_per_node=2, num_predecessors=2, merge_op="all",
                            preprocessor=Preprocess(c_pp, c_p, c, reduction_prev, affine),
                            label="reduce" if reduction else "normal")
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c
            if i == self.aux_position:
                aux_channels = c_p
        self.auxiliary = AuxiliaryHead(aux_channels, num_classes) if auxiliary else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def set_drop_path(self, p: float) -> None:
        """Set the drop-path probability of every op."""
        for module in self.modules():
            if isinstance(module, DropPath):
                module.p = p

    def forward(self, x: torch.Tensor) -> Any:
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_position and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        logits = self.classifier(self.pool(s1).flatten(1))
        return (logits, aux) if aux is not None else logits


__all__ = ["OPS", "DartsSpace", "make_op"]
