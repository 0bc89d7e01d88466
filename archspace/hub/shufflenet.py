"""The ShuffleNetV2 supernet of Single Path One-Shot (Guo et al., ECCV 2020), with channel search.

Twenty choice blocks in four stages (4, 4, 8, 4 blocks; output channels 64, 160, 320, 640 after a
16-channel stride-2 stem, then a 1x1 conv to 1024, global pooling, dropout 0.1 and a linear
classifier without bias), as in the paper and its official code. Every block chooses among
ShuffleNetV2 units with a 3x3, 5x5 or 7x7 depthwise convolution (``k3``, ``k5``, ``k7``) and the
``xcep`` unit (three 3x3 depthwise convolutions): 4^20 architectures, labels ``layer_1`` ..
``layer_20`` (NNI's names, so its architecture files read as they are). The first block of a stage
has stride 2 and a projection branch; the others split the input's channels after a channel
shuffle and transform one half. Batch norm is not affine by default, as in the official supernet.

``channel_search=True`` adds the paper's channel-number search: every block also chooses its mid
channels (the output of its first 1x1 convolution) as a scale of the default ``out // 2`` —
0.2x to 1.6x in steps of 0.2 (labels ``channel_1`` ..), the range the paper and NNI's space use.
All four candidates of a block share that one label. A one-shot supernet holds each candidate's
weights at the largest width and runs a width as the leading channels of them
(:class:`MixedShuffleBlock`: real slicing, the compute of that width only); its subnet carries
exactly those slices.

Example:
    >>> space = ShuffleNetSpace.small(channel_search=True)
    >>> list(space.search_space())[:2]
    ['layer_1', 'channel_1']
    >>> model = space.freeze(space.default_sample())
    >>> model(ShuffleNetSpace.example_input()).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from archspace.errors import SpaceDefinitionError
from archspace.nn import LayerChoice, ModelSpace, choice
from archspace.nn.layers import MutableLayer
from archspace.oneshot.forms import MixedBuilder, MixedModule, SubnetChild, register_mixed
from archspace.space.decisions import find_leaves, resolve

if TYPE_CHECKING:
    from archspace.oneshot.arch import ArchParameters

#: The candidates of every choice block, in the official order (choice index 0..3).
BLOCKS = ("k3", "k5", "k7", "xcep")
#: Mid-channel scales of the channel-search variant (paper, section 4.2; NNI's ShuffleNetSpace).
CHANNEL_SCALES = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)


def channel_shuffle(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ShuffleNetV2's split: the even and the odd channels of ``x`` (the shuffle of the previous
    block's concatenation followed by the channel split, in one reshape)."""
    n, c, h, w = x.shape
    x = x.reshape(n * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, n, c // 2, h, w)
    return x[0], x[1]


class ShuffleBlock(nn.Module):
    """One ShuffleNetV2 unit: ``sequence`` of the main branch, ``p`` pointwise and ``d`` depthwise.

    ``"pdp"`` is the plain unit (kernel ``kernel_size``), ``"dpdpdp"`` the Xception-like one. Convs
    before the first pointwise one keep the input's channels, the last one gives ``out - in``
    (``out - in / 2`` at stride 1), every one in between ``mid_channels``.

    Args:
        in_channels, out_channels: the unit's input and output channels.
        mid_channels: the main branch's inner width.
        kernel_size: the depthwise kernel (3, 5 or 7).
        stride: 2 (with a projection branch) or 1 (channel split).
        sequence: ``"pdp"`` or ``"dpdpdp"``.
        affine: affine batch norms.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, *, kernel_size: int = 3,
                 stride: int = 1, sequence: str = "pdp", affine: bool = False) -> None:
        super().__init__()
        if stride not in (1, 2) or kernel_size not in (3, 5, 7) or sequence not in ("pdp", "dpdpdp"):
            raise SpaceDefinitionError(f"ShuffleBlock: stride {stride} (1 or 2), kernel {kernel_size} (3, 5 or 7), "
                                       f"sequence {sequence!r} ('pdp' or 'dpdpdp')")
        if stride == 1 and in_channels % 2:
            raise SpaceDefinitionError(f"ShuffleBlock: a stride-1 unit splits its input; {in_channels} channels is odd")
        self.stride = stride
        inside = in_channels // 2 if stride == 1 else in_channels
        self.outputs = out_channels - inside
        if self.outputs <= 0 or mid_channels <= 0:
            raise SpaceDefinitionError(f"ShuffleBlock: {in_channels} -> {out_channels} channels (mid {mid_channels}) "
                                       "leaves no channels for the main branch")
        pad = kernel_size // 2
        layers: list[nn.Module] = []
        #: per layer of the main branch: whether a pointwise conv's output is the mid width.
        self.mid_out: list[bool] = []
        points = [i for i, t in enumerate(sequence) if t == "p"]
        channels, first_depth = inside, True
        for i, token in enumerate(sequence):
            if token == "d":
                layers += [nn.Conv2d(channels, channels, kernel_size, stride if first_depth else 1, pad,
                                     groups=channels, bias=False), nn.BatchNorm2d(channels, affine=affine)]
                self.mid_out += [False, False]
                first_depth = False
            else:
                out = self.outputs if i == points[-1] else mid_channels
                layers += [nn.Conv2d(channels, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out, affine=affine),
                           nn.ReLU(inplace=True)]
                self.mid_out += [i != points[-1], False, False]
                channels = out
        self.branch_main = nn.Sequential(*layers)
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(inside, inside, kernel_size, 2, pad, groups=inside, bias=False),
                nn.BatchNorm2d(inside, affine=affine),
                nn.Conv2d(inside, inside, 1, 1, 0, bias=False), nn.BatchNorm2d(inside, affine=affine),
                nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, None)

    def run(self, x: torch.Tensor, width: int | None) -> torch.Tensor:
        """The unit with its mid channels cut to the leading ``width`` (None: all of them)."""
        if self.stride == 2:
            proj, main = self.branch_proj(x), x
        else:
            proj, main = channel_shuffle(x)
        main = self.branch_main(main) if width is None else self._sliced_main(main, width)
        return torch.cat((proj, main), 1)

    def _sliced_main(self, x: torch.Tensor, width: int) -> torch.Tensor:
        channels = x.shape[1]
        for layer, mid in zip(self.branch_main, self.mid_out):
            if isinstance(layer, nn.Conv2d):
                if layer.groups > 1:  # depthwise: as many channels as come in
                    x = F.conv2d(x, layer.weight[:channels], None, layer.stride, layer.padding, 1, channels)
                else:
                    out = width if mid else layer.out_channels
                    x = F.conv2d(x, layer.weight[:out, :channels], None, layer.stride, layer.padding)
                    channels = out
            elif isinstance(layer, nn.BatchNorm2d):
                x = _sliced_batch_norm(layer, x, channels)
            else:
                x = layer(x)
        return x


def _sliced_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, channels: int) -> torch.Tensor:
    """``bn`` on its leading ``channels``: the slices of its statistics are updated in place."""
    if channels == bn.num_features:
        return bn(x)
    factor = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    mean = bn.running_mean[:channels] if bn.running_mean is not None else None
    var = bn.running_var[:channels] if bn.running_var is not None else None
    weight = bn.weight[:channels] if bn.weight is not None else None
    bias = bn.bias[:channels] if bn.bias is not None else None
    use_batch = bn.training or mean is None
    return F.batch_norm(x, mean, var, weight, bias, use_batch, factor, bn.eps)


class SearchableShuffleBlock(MutableLayer, ShuffleBlock):
    """A :class:`ShuffleBlock` whose ``mid_channels`` may be a choice (channel search).

    Frozen, it is the plain unit of the chosen width; in a one-shot supernet it becomes a
    :class:`MixedShuffleBlock` over the weights of the largest width (registered below).
    """


@register_mixed(SearchableShuffleBlock)
def _mixed_shuffle_block(block: SearchableShuffleBlock, label: str, builder: MixedBuilder) -> nn.Module:
    """The registered mixed form of a channel-searched unit: a :class:`MixedShuffleBlock`."""
    chosen = [name for name, value in block.space_arguments.items() if find_leaves(value)]
    leaves = block.value_decisions()
    if chosen != ["mid_channels"] or len(leaves) != 1:
        raise SpaceDefinitionError(f"SearchableShuffleBlock at {builder.path!r}: a supernet can share weights across "
                                   f"a choice of mid_channels only (one decision), got choices of {chosen}")
    return MixedShuffleBlock(block, builder.arch)


class MixedShuffleBlock(MixedModule):
    """The one-shot form of a channel-searched unit: each running width sliced from one weight.

    A pass runs, for every width its mix selects (one under single-path sampling), the unit on the
    leading channels of the shared largest weights and statistics, and sums the outputs by the
    mix's weights (the unit's output width does not depend on the choice). Only the slices run, so
    a narrow path costs a narrow path's compute, and only they get gradients.
    """

    def __init__(self, layer: SearchableShuffleBlock, arch: ArchParameters) -> None:
        super().__init__(arch)
        leaf = layer.value_decisions()[0]
        self.label = leaf.label
        self.widths = [int(v) for v in leaf.values]
        arch.register(leaf.label, list(leaf.values))
        self.block = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor | None = None
        for index, weight in self.mix(self.label).pairs():
            term = weight * self.block.run(x, self.widths[index])
            out = term if out is None else out + term
        assert out is not None
        return out

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        args = {k: resolve(v, {self.label: sample[self.label]}) for k, v in self.block.space_arguments.items()}
        plain = ShuffleBlock(**args)
        source = dict(self.block.named_parameters()) | dict(self.block.named_buffers())
        with torch.no_grad():
            for name, small in list(plain.named_parameters()) + list(plain.named_buffers()):
                big = source[name]
                small.copy_(big[tuple(slice(0, n) for n in small.shape)])
        plain.train(self.block.training)
        return plain


class ShuffleNetSpace(ModelSpace):
    """The SPOS ShuffleNetV2 supernet space (see the module docstring).

    Args:
        num_classes: classifier outputs (1000 for ImageNet).
        in_channels: input image channels (3; 1 for grayscale).
        stem_channels: the first conv's channels (16).
        stage_channels: each stage's output channels (64, 160, 320, 640: the 1.0x network).
        stage_repeats: blocks per stage (4, 4, 8, 4: the paper's 20 choice blocks).
        last_channels: the final 1x1 conv's channels (1024).
        channel_search: also choose each block's mid channels (labels ``channel_i``).
        channel_scales: the mid-channel scales of the channel search (of ``out // 2``); scales
            giving the same count at a small width are merged.
        affine: affine batch norms (False in the official supernet; True to retrain a subnet as the
            official evaluation networks do).
        dropout: before the classifier (0.1).
    """

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, stem_channels: int = 16,
                 stage_channels: Sequence[int] = (64, 160, 320, 640), stage_repeats: Sequence[int] = (4, 4, 8, 4),
                 last_channels: int = 1024, channel_search: bool = False,
                 channel_scales: Sequence[float] = CHANNEL_SCALES, affine: bool = False, dropout: float = 0.1) -> None:
        super().__init__()
        if len(stage_channels) != len(stage_repeats) or not stage_repeats or min(stage_repeats) < 1:
            raise SpaceDefinitionError(f"stage_channels {list(stage_channels)} and stage_repeats {list(stage_repeats)} "
                                       "need one entry per stage, each stage at least one block")
        if any(c % 2 for c in stage_channels):
            raise SpaceDefinitionError(f"stage_channels must be even (channel split), got {list(stage_channels)}")
        self.first_conv = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 3, 2, 1, bias=False),
                                        nn.BatchNorm2d(stem_channels, affine=affine), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        channels, index = stem_channels, 0
        for out, repeats in zip(stage_channels, stage_repeats):
            for i in range(repeats):
                index += 1
                stride = 2 if i == 0 else 1
                base = out // 2
                mid: Any = base
                if channel_search:
                    widths = sorted({max(1, int(base * s)) for s in channel_scales})
                    mid = choice(f"channel_{index}", widths)
                common = dict(mid_channels=mid, stride=stride, affine=affine)
                blocks.append(LayerChoice({
                    "k3": SearchableShuffleBlock(channels, out, kernel_size=3, **common),
                    "k5": SearchableShuffleBlock(channels, out, kernel_size=5, **common),
                    "k7": SearchableShuffleBlock(channels, out, kernel_size=7, **common),
                    "xcep": SearchableShuffleBlock(channels, out, kernel_size=3, sequence="dpdpdp", **common),
                }, label=f"layer_{index}"))
                channels = out
        self.features = nn.Sequential(*blocks)
        self.conv_last = nn.Sequential(nn.Conv2d(channels, last_channels, 1, 1, 0, bias=False),
                                       nn.BatchNorm2d(last_channels, affine=affine), nn.ReLU(inplace=True))
        self.globalpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last_channels, num_classes, bias=False)
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        """The official initialisation: N(0, 0.01) for the stem and the classifier, N(0, 1/fan-in
        per group) for the other convs, batch-norm biases 1e-4."""
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.01 if name.startswith("first") else 1.0 / m.weight.shape[1])
            elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 1e-4)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_last(self.features(self.first_conv(x)))
        return self.classifier(self.dropout(self.globalpool(x).flatten(1)))

    @classmethod
    def small(cls, *, channel_search: bool = False, oneshot: bool = False) -> ShuffleNetSpace:
        """A tiny instance for tests and smoke runs: two stages (2 and 1 blocks), 8/16 channels,
        10 classes; with ``channel_search``, mid-channel scales 0.5 and 1.0 (one form for both
        search kinds, so ``oneshot`` changes nothing)."""
        return cls(num_classes=10, stem_channels=4, stage_channels=(8, 16), stage_repeats=(2, 1), last_channels=16,
                   channel_search=channel_search, channel_scales=(0.5, 1.0))

    @staticmethod
    def example_input(batch_size: int = 2) -> torch.Tensor:
        """A random batch ``(batch_size, 3, 32, 32)`` (the network pools globally, so any size
        from 32 works; ImageNet's is 224)."""
        return torch.randn(batch_size, 3, 32, 32)


#: The official repository's searched architecture (its README: 323M FLOPs, 25.6% top-1 error),
#: in this space's labels (NNI's spelling of the same choices).
OFFICIAL_ARCH = {f"layer_{i + 1}": BLOCKS[c] for i, c in enumerate(
    (2, 1, 0, 1, 2, 0, 2, 0, 2, 0, 2, 3, 0, 0, 0, 0, 3, 2, 3, 3))}

__all__ = ["BLOCKS", "CHANNEL_SCALES", "OFFICIAL_ARCH", "MixedShuffleBlock", "SearchableShuffleBlock", "ShuffleBlock",
           "ShuffleNetSpace", "channel_shuffle"]
