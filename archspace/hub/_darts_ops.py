"""The operations and fixed parts of the DARTS CNN space (:mod:`archspace.hub.darts`).

The eight candidate ops of a DARTS cell edge (pools, skip connect, separable and dilated
convolutions, ``none``), the drop path that follows them, and the cell's fixed parts (the
preprocessing of its two inputs, the ImageNet stem, the auxiliary head). They live apart from the
space so that :mod:`~archspace.hub.darts` reads as the space's wiring and sample formats; every
name here is importable from :mod:`archspace.hub.darts` as before.
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")
#: The ops of the retraining / multi-trial form: all but ``none`` (NNI's ``DARTS_OPS``, same order).
RETRAIN_OPS = OPS[1:]


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution, batch norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions (the DARTS separable conv).

    A supernet shares its leading ReLU with the other ops reading the same input
    (:func:`archspace.oneshot.mixed_ops.relu_split`).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False), nn.Conv2d(c_in, c_in, kernel, stride, padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False), nn.BatchNorm2d(c_in, affine=affine),
            # In place: only this ReLU reads the batch norm's output, and neither needs it kept for
            # the backward pass (batch norm keeps its input, ReLU its result): one tensor less.
            nn.ReLU(inplace=True), nn.Conv2d(c_in, c_in, kernel, 1, padding, groups=c_in, bias=False),
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
        return self.forward_after_relu(self.relu(x))

    def forward_after_relu(self, x: torch.Tensor) -> torch.Tensor:
        """The rest of the forward on ``relu(input)`` (a supernet shares that ReLU between ops)."""
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` op (zeros, strided like the other ops).

    ``zero_output`` tells a supernet that this op's term is exactly zero, so it need not run it.
    """

    zero_output = True

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

    @property
    def is_identity(self) -> bool:
        """Whether this returns its input unchanged now (a supernet may then look past it)."""
        return not self.training or self.p <= 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_identity:
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
        raise SpaceDefinitionError(f"unknown DARTS op {name!r}; ops are {list(OPS)}")
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
    """The auxiliary classifier of DARTS/NASNet at 2/3 depth (8x8 maps on CIFAR, pooled with stride
    3; 7x7 maps on 224x224 ImageNet inputs, stride 2)."""

    def __init__(self, channels: int, num_classes: int, stride: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AvgPool2d(5, stride=stride, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class ImageNetStem(nn.Module):
    """The ImageNet stem of DARTS: three stride-2 3x3 convolutions; returns the two first states."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = max(channels // 2, 1)
        self.stem0 = nn.Sequential(
            nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(half), nn.ReLU(inplace=True),
            nn.Conv2d(half, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        self.stem1 = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


__all__ = ["OPS", "RETRAIN_OPS", "AuxiliaryHead", "DilConv", "DropPath", "FactorizedReduce", "ImageNetStem",
           "Preprocess", "ReLUConvBN", "SepConv", "Zero", "make_op"]
