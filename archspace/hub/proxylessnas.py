"""The ProxylessNAS / MobileNetV2 search space (Cai, Zhu & Han, ICLR 2019, section 4.2).

A MobileNetV2 backbone (Sandler et al., CVPR 2018) whose every inverted-residual block is a choice:

- a 3x3 stride-2 stem conv (32 channels) and a fixed first block (expansion 1, kernel 3, 16 channels);
- stages of choice blocks, ``width_stages = (24, 40, 80, 96, 192, 320)`` channels,
  ``depth_stages = (4, 4, 4, 4, 4, 1)`` blocks and ``stride_stages = (2, 2, 2, 1, 2, 1)`` (the
  stride of each stage's first block): 21 searched blocks at ImageNet size;
- each block chooses an MBConv with kernel 3, 5 or 7 and expansion 3 or 6 (:data:`CANDIDATES`,
  the paper's names ``KxK_MBConvE``) and, in every block but the first of a stage (stride 1, same
  channels: the blocks with a residual connection), the ``zero`` op, which leaves only the
  shortcut — the block is skipped, so the search picks the depth of each stage;
- a 1x1 conv to 1280 channels, global average pooling, dropout and the classifier.

Batch norms use momentum 0.1 and eps 1e-3, the weights the official code's "he_fout"
initialisation (Kaiming normal over fan-out for convs, uniform within ``1/sqrt(fan_in)`` for the
classifier), activations ReLU6, as in the paper's code. Labels are ``stage{s}_block{b}``.

:meth:`ProxylessNASSpace.small` is a two-stage, three-block toy for the test suites;
``in_channels=1`` and a small width serve 28x28 grayscale data (Fashion-MNIST).

Example:
    >>> import torch
    >>> space = ProxylessNASSpace.small()
    >>> list(space.search_space())
    ['stage0_block0', 'stage1_block0', 'stage1_block1']
    >>> space.search_space()["stage1_block1"].values[-1]
    'zero'
    >>> model = space.freeze(space.default_sample()).eval()
    >>> tuple(model(space.example_input()).shape)
    (2, 10)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn import LayerChoice, ModelSpace

#: The paper's MBConv candidates: ``{kernel}x{kernel}_MBConv{expansion}``.
CANDIDATES: tuple[str, ...] = ("3x3_MBConv3", "3x3_MBConv6", "5x5_MBConv3", "5x5_MBConv6", "7x7_MBConv3",
                               "7x7_MBConv6")
#: The op that skips a residual block (its output is the shortcut alone).
ZERO = "zero"
BN_MOMENTUM, BN_EPS = 0.1, 1e-3


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Sequential):
    """MobileNetV2's inverted bottleneck without its shortcut: 1x1 expansion (absent for expansion
    1), depthwise ``kernel`` conv carrying the stride, linear 1x1 projection; BN after each, ReLU6
    after the first two. The shortcut belongs to :class:`ChoiceBlock`."""

    def __init__(self, c_in: int, c_out: int, *, kernel: int, expansion: int, stride: int = 1) -> None:
        mid = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(c_in, mid, 1, bias=False), _bn(mid), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False), _bn(mid),
                   nn.ReLU6(inplace=True), nn.Conv2d(mid, c_out, 1, bias=False), _bn(c_out)]
        super().__init__(*layers)


class Zero(nn.Module):
    """The zero op: an output of zeros, so its residual block passes its input through.

    ``zero_output`` tells a supernet it need not run this op while another candidate runs.
    """

    zero_output = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def make_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """One candidate by name: ``KxK_MBConvE`` (K in 3, 5, 7; E in 3, 6) or ``zero``.

    Raises:
        SpaceDefinitionError: an unknown name, or ``zero`` where the block has no shortcut.
    """
    if name == ZERO:
        if stride != 1 or c_in != c_out:
            raise SpaceDefinitionError(f"'zero' needs a residual block (stride 1, equal channels), got "
                                       f"{c_in}->{c_out} at stride {stride}")
        return Zero()
    if name not in CANDIDATES:
        raise SpaceDefinitionError(f"unknown ProxylessNAS op {name!r}; ops are {[*CANDIDATES, ZERO]}")
    kernel, expansion = int(name[0]), int(name[-1])
    return MBConv(c_in, c_out, kernel=kernel, expansion=expansion, stride=stride)


class ChoiceBlock(nn.Module):
    """A searched block: ``op(x)``, plus ``x`` when the block keeps its shape (stride 1, equal
    channels), so that the ``zero`` op leaves the input unchanged."""

    def __init__(self, op: nn.Module, residual: bool) -> None:
        super().__init__()
        self.op = op
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.op(x)
        return x + out if self.residual else out


class ProxylessNASSpace(ModelSpace):
    """The ProxylessNAS / MobileNetV2 space (see the module docstring).

    Args:
        num_classes: classifier outputs.
        in_channels: input channels (3 for RGB, 1 for grayscale).
        width_stages, depth_stages, stride_stages: per stage, its output channels, number of
            choice blocks and the stride of its first block (equal lengths).
        stem_channels: the stem conv's channels (32).
        first_channels: the fixed first block's channels (16).
        last_channels: the 1x1 conv before pooling (1280).
        dropout: before the classifier (0 in the search, 0.1-0.3 in the paper's retraining).
        zero: offer the ``zero`` op in the residual blocks (the paper does).
    """

    def __init__(self, num_classes: int = 1000, *, in_channels: int = 3,
                 width_stages: Sequence[int] = (24, 40, 80, 96, 192, 320),
                 depth_stages: Sequence[int] = (4, 4, 4, 4, 4, 1), stride_stages: Sequence[int] = (2, 2, 2, 1, 2, 1),
                 stem_channels: int = 32, first_channels: int = 16, last_channels: int = 1280, dropout: float = 0.0,
                 zero: bool = True) -> None:
        super().__init__()
        widths, depths, strides = list(width_stages), list(depth_stages), list(stride_stages)
        if not len(widths) == len(depths) == len(strides) or not widths:
            raise SpaceDefinitionError(f"width_stages, depth_stages and stride_stages need one entry per stage, got "
                                       f"{widths}, {depths} and {strides}")
        for what, values, allowed in (("width_stages", widths, "positive"), ("depth_stages", depths, "positive"),
                                      ("stride_stages", strides, "1 or 2")):
            bad = [v for v in values if not isinstance(v, int) or v < 1 or (allowed == "1 or 2" and v > 2)]
            if bad:
                raise SpaceDefinitionError(f"{what} must hold {allowed} ints, got {values}")
        if not 0.0 <= dropout < 1.0:
            raise SpaceDefinitionError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 3, 2, 1, bias=False), _bn(stem_channels),
                                  nn.ReLU6(inplace=True))
        self.first = MBConv(stem_channels, first_channels, kernel=3, expansion=1)
        blocks: list[nn.Module] = []
        c_in = first_channels
        for s, (width, depth, stride) in enumerate(zip(widths, depths, strides)):
            for b in range(depth):
                step = stride if b == 0 else 1
                residual = step == 1 and c_in == width
                names = [*CANDIDATES, ZERO] if zero and residual else list(CANDIDATES)
                choice = LayerChoice({n: make_op(n, c_in, width, step) for n in names},
                                         label=f"stage{s}_block{b}")
                blocks.append(ChoiceBlock(choice, residual))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(c_in, last_channels, 1, bias=False), _bn(last_channels),
                                  nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The official code's "he_fout": Kaiming normal over fan-out, unit batch norms, and a
        uniform classifier within ``1/sqrt(fan_in)`` with zero bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.weight.size(1))
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.dropout(self.head(self.blocks(self.first(self.stem(x))))))
        return out

    @classmethod
    def small(cls, *, oneshot: bool = False) -> ProxylessNASSpace:
        """A toy for the shared test suites: two stages of 8 and 16 channels (1 and 2 blocks, the
        third with ``zero``), a 32-channel head, 10 classes (one form, so ``oneshot`` changes
        nothing)."""
        return cls(10, width_stages=(8, 16), depth_stages=(1, 2), stride_stages=(2, 2), stem_channels=8,
                   first_channels=8, last_channels=32)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        """A random batch of 16x16 images with this space's input channels."""
        return torch.randn(batch_size, self.in_channels, 16, 16)


__all__ = ["CANDIDATES", "ZERO", "ChoiceBlock", "MBConv", "ProxylessNASSpace", "Zero", "make_op"]
