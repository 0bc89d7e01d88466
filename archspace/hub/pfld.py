"""PFLD facial landmarks with FBNet's block-wise search space (the NNI PFLD workflow).

PFLD (Guo et al., "PFLD: A Practical Facial Landmark Detector", arXiv 1902.10859) regresses the
landmark coordinates from a small MobileNet-like backbone that pools features of three scales,
and trains with an auxiliary net that predicts the head pose (yaw, pitch, roll) from early
features; the pose only weights the loss while training and is not part of the deployed model.

This space is the *simplified* PFLD backbone of NNI's FBNet example
(``examples/nas/oneshot/pfld``, its ``lib/supernet.py``, ``lib/ops.py`` and ``lib/builder.py``),
written anew here. For a 112x112 input and ``width=16``:

- a PeleeNet stem (Wang et al., NeurIPS 2018): 3x3 conv at stride 2 (56x56), then a 1x1 conv and
  a stride-2 separable branch next to a 2x2 max pool, concatenated and fused by a 1x1 conv (28x28);
- an inverted-residual block to 32 channels at stride 2 (14x14);
- **the searched layers**, FBNet's block-wise choices (Wu et al., "FBNet", arXiv 1812.03443):
  stage 0 has two layers of 32 channels at 14x14, stage 1 three layers of 64 channels, the first at
  stride 2 (7x7). The candidates of each stage are those of NNI's ``builder.py``
  (:data:`STAGE_OPS`): inverted-residual blocks ``mb_k{3,5}[_e{2,4}]_res[_d3][_se]`` (kernel 3 or
  5, expansion 1/2/4, dilation 3, eSE attention), separable convs ``sep_k{3,5}`` and ghost
  modules ``gh_k{3,5}``; and, as in FBNet's own space, a ``skip`` candidate wherever the layer
  keeps its stride at 1 and its channels (NNI's example leaves it out);
- average pooling done by depthwise convolutions (a 9x9 stride-8 one on the stem's first output, a
  3x3 stride-2 one on stage 0's output) brings both to 7x7; they are concatenated with stage 1's
  output (multi-scale features), fused by a 1x1 conv and an inverted-residual block with eSE
  attention (Lee & Park, CenterMask's effective squeeze-excitation, whose global pooling is again
  a depthwise conv over the whole 7x7 map), a separable conv to 128 channels, a 7x7 depthwise
  conv to 1x1 and a 1x1 conv to the ``2 * num_points`` coordinates.

The searched labels are ``block_0`` ... ``block_4`` (stage 0: blocks 0-1, stage 1: blocks 2-4).

Outputs: in eval mode the ``(N, 2 * num_points)`` landmark coordinates (x0, y0, x1, y1, ...), so
an exported ONNX model has that single output; in training mode ``(landmarks, angles)``, the
angles ``(N, 3)`` coming from the :class:`AuxiliaryNet` on the stem's output. The aux net is part
of the space so that a supernet trains it with the other weights and a subnet inherits it; the
loss that uses the angles is :class:`archspace.evaluate.landmarks.Landmarks`'.

Smaller inputs work when ``input_size`` is a multiple of 16 (feature maps of ``input_size / 16``
at the head, e.g. 2x2 for :meth:`PFLD.small`'s 32x32 inputs).

Example:
    >>> import torch
    >>> space = PFLD.small()
    >>> list(space.search_space()["block_2"].values[:3])
    ['mb_k3_e2_res', 'mb_k3_e4_res', 'mb_k3_e2_res_se']
    >>> model = space.freeze(space.default_sample()).eval()
    >>> tuple(model(space.example_input()).shape)
    (2, 212)
"""

from __future__ import annotations

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn import LayerChoice, ModelSpace

#: Candidates per stage, in NNI's order (``lib/builder.py``).
STAGE_OPS: tuple[tuple[str, ...], ...] = (
    ("mb_k3_res", "mb_k3_e2_res", "mb_k3_res_d3", "mb_k5_res", "mb_k5_e2_res", "sep_k3", "sep_k5", "gh_k3", "gh_k5"),
    ("mb_k3_e2_res", "mb_k3_e4_res", "mb_k3_e2_res_se", "mb_k3_res_d3", "mb_k5_res", "mb_k5_e2_res", "mb_k5_res_se",
     "mb_k5_e2_res_se", "gh_k5"),
)
#: Searched layers per stage, and the stride of each stage's first layer.
STAGE_LAYERS = (2, 3)
STAGE_STRIDES = (1, 2)
#: The number of landmarks of the 106-point data set.
NUM_POINTS = 106


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int, groups: int = 1) -> nn.Sequential:
    """Convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SeparableConv(nn.Sequential):
    """A depthwise ``kernel`` conv (carrying the stride), then a 1x1 conv; each with BN and ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> None:
        super().__init__(conv_bn(c_in, c_in, kernel, stride, kernel // 2, groups=c_in), conv_bn(c_in, c_out, 1, 1, 0))


class GhostModule(nn.Module):
    """GhostNet's module (Han et al., CVPR 2020): half the channels from a 1x1 conv, the other half
    from a cheap depthwise conv of those."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> None:
        super().__init__()
        if c_out % 2:
            raise SpaceDefinitionError(f"a ghost module needs an even number of output channels, got {c_out}")
        half = c_out // 2
        self.primary = conv_bn(c_in, half, 1, stride, 0)
        self.cheap = conv_bn(half, half, kernel, 1, kernel // 2, groups=half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.primary(x)
        return torch.cat([first, self.cheap(first)], 1)


class HardSigmoid(nn.Module):
    """``relu6(x + 3) / 6``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(x + 3.0) / 6.0


class ESE(nn.Module):
    """Effective squeeze-excitation: one 1x1 conv on globally pooled features, a hard sigmoid gate.

    The global average pool is a learnt depthwise conv over the whole ``fm_size`` map (the
    simplified PFLD's trick for mobile inference engines), so the block needs that exact size.
    """

    def __init__(self, channels: int, fm_size: int) -> None:
        super().__init__()
        self.pool = nn.Conv2d(channels, channels, fm_size, 1, 0, groups=channels, bias=False)
        self.fc = nn.Conv2d(channels, channels, 1)
        self.gate = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc(self.pool(x)))


class MBBlock(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise ``kernel`` conv (stride, dilation), optional
    eSE, 1x1 projection; the input is added back when ``res`` and the shape is kept."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, *, kernel: int = 3, expand: int = 1,
                 res: bool = False, dilation: int = 1, se: bool = False, fm_size: int = 7, mid: int = 0) -> None:
        super().__init__()
        mid = mid or c_in * expand
        self.residual = res and stride == 1 and c_in == c_out
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, kernel, stride, kernel // 2 + dilation - 1, dilation=dilation, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
        ]
        if se:
            layers.append(ESE(mid, fm_size))
        layers += [nn.ReLU(inplace=True), nn.Conv2d(mid, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


def make_op(name: str, c_in: int, c_out: int, stride: int, fm_size: int) -> nn.Module:
    """One candidate block by name (``mb_k3_e2_res_se``, ``sep_k5``, ``gh_k3``, ``skip``).

    ``fm_size`` is the block's output map size (for eSE's pooling conv).
    """
    if name == "skip":
        if stride != 1 or c_in != c_out:
            raise SpaceDefinitionError(f"'skip' needs stride 1 and equal channels, got {c_in}->{c_out} at stride {stride}")
        return nn.Identity()
    kind, _, rest = name.partition("_")
    parts = rest.split("_")
    if not parts or parts[0] not in ("k3", "k5"):
        raise SpaceDefinitionError(f"unknown PFLD op {name!r}; ops are {sorted(set(STAGE_OPS[0] + STAGE_OPS[1]))}")
    kernel = int(parts[0][1])
    if kind == "sep" and len(parts) == 1:
        return SeparableConv(c_in, c_out, stride, kernel)
    if kind == "gh" and len(parts) == 1:
        return GhostModule(c_in, c_out, stride, kernel)
    if kind == "mb":
        flags = set(parts[1:])
        expand = next((int(f[1:]) for f in flags if f.startswith("e")), 1)
        dilation = 3 if "d3" in flags else 1
        # NNI's ``_d3`` ops expand by 2.
        expand = 2 if dilation == 3 else expand
        known = {"res", "se", "d3", "e2", "e4"}
        if flags <= known:
            return MBBlock(c_in, c_out, stride, kernel=kernel, expand=expand, res="res" in flags,
                           dilation=dilation, se="se" in flags, fm_size=fm_size)
    raise SpaceDefinitionError(f"unknown PFLD op {name!r}; ops are {sorted(set(STAGE_OPS[0] + STAGE_OPS[1]))}")


class PeleeStem(nn.Module):
    """PeleeNet's stem: returns the stem's output (1/4 size) and its first conv's (1/2 size)."""

    def __init__(self, c_out: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(3, c_out, 3, 2, 1)
        self.branch_a = conv_bn(c_out, c_out, 1, 1, 0)
        self.branch_b = SeparableConv(c_out, c_out, 2, 1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fuse = conv_bn(2 * c_out, c_out, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.conv1(x)
        out = self.fuse(torch.cat([self.branch_b(self.branch_a(first)), self.pool(first)], 1))
        return out, first


class AuxiliaryNet(nn.Module):
    """PFLD's auxiliary net: the head pose (3 angles) from the stem's output, for training only.

    NNI's version ends in a 7x7 conv (padding 1) and a 3x3 max pool, which assume 112x112 inputs;
    here the last conv's kernel shrinks for smaller maps and an adaptive max pool ends it, which is
    the same computation at 112x112.
    """

    def __init__(self, c_in: int, input_size: int, width: int = 16) -> None:
        super().__init__()
        fm = input_size // 16  # map size after the two stride-2 convs below
        kernel = min(7, fm + 2)
        self.features = nn.Sequential(conv_bn(c_in, 4 * width, 3, 2, 1), conv_bn(4 * width, 4 * width, 3, 1, 1),
                                      conv_bn(4 * width, 2 * width, 3, 2, 1), conv_bn(2 * width, 4 * width, kernel, 1, 1),
                                      nn.AdaptiveMaxPool2d(1))
        self.head = nn.Sequential(nn.Linear(4 * width, 2 * width), nn.Linear(2 * width, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


class PFLD(ModelSpace):
    """The simplified PFLD backbone with FBNet's searched blocks (see the module docstring).

    Args:
        input_size: input height and width, a multiple of 16 (112 in PFLD).
        width: the stem's channels; the other widths scale with it (16 in NNI's example: stages
            of 32 and 64 channels, a 128-channel head).
        num_points: landmarks predicted (106: the output has 212 coordinates).
        skip: offer FBNet's ``skip`` candidate where a layer keeps stride 1 and its channels.
        auxiliary: build the :class:`AuxiliaryNet` and return ``(landmarks, angles)`` in training;
            False: no aux net, the landmarks alone in both modes (a model for plain losses).
    """

    def __init__(self, input_size: int = 112, width: int = 16, num_points: int = NUM_POINTS, skip: bool = True,
                 auxiliary: bool = True) -> None:
        super().__init__()
        if input_size < 16 or input_size % 16:
            raise SpaceDefinitionError(f"PFLD input_size must be a multiple of 16 (>= 16), got {input_size}")
        if width < 2 or width % 2:
            raise SpaceDefinitionError(f"PFLD width must be an even number >= 2, got {width}")
        self.input_size, self.num_points = input_size, num_points
        fm = input_size // 16
        self.stem = PeleeStem(width)
        self.block4 = MBBlock(width, 2 * width, 2, mid=2 * width)
        blocks: list[nn.Module] = []
        c_in = 2 * width
        for stage, (ops, layers, first_stride) in enumerate(zip(STAGE_OPS, STAGE_LAYERS, STAGE_STRIDES)):
            c_out = 2 * width * (stage + 1)
            for j in range(layers):
                stride = first_stride if j == 0 else 1
                names = list(ops) + (["skip"] if skip and stride == 1 and c_in == c_out else [])
                out_fm = fm * 2 if stage == 0 else fm
                index = len(blocks)
                blocks.append(LayerChoice({n: make_op(n, c_in, c_out, stride, out_fm) for n in names},
                                              label=f"block_{index}"))
                c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.pool1 = nn.Conv2d(width, width, 9, 8, 1, groups=width, bias=False)
        self.pool2 = nn.Conv2d(2 * width, 2 * width, 3, 2, 1, groups=2 * width, bias=False)
        self.fuse = nn.Conv2d(7 * width, 4 * width, 1, bias=False)
        self.head_block = MBBlock(4 * width, 4 * width, res=True, se=True, fm_size=fm, mid=8 * width)
        self.head_sep = SeparableConv(4 * width, 8 * width, 1)
        self.head_pool = nn.Conv2d(8 * width, 8 * width, fm, 1, 0, groups=8 * width, bias=False)
        self.fc = nn.Conv2d(8 * width, 2 * num_points, 1)
        self.auxiliary = AuxiliaryNet(width, input_size, width) if auxiliary else None
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal convs (fan out), unit batch norms, as NNI's example initialises."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        out, first = self.stem(x)
        y = self.block4(out)
        scale2 = y
        for i, block in enumerate(self.blocks):
            y = block(y)
            if i == STAGE_LAYERS[0] - 1:
                scale2 = y
        multi = torch.cat([y, self.pool2(scale2), self.pool1(first)], 1)
        z = self.head_pool(self.head_sep(self.head_block(self.fuse(multi))))
        landmarks = self.fc(z).flatten(1)
        if self.training and self.auxiliary is not None:
            return landmarks, self.auxiliary(out)
        return landmarks

    @classmethod
    def small(cls, *, oneshot: bool = False) -> PFLD:
        """A small instance for the shared test suites: 32x32 inputs, width 4, no auxiliary net (one
        output in both modes, as those suites' generic losses expect; the examples' smoke runs
        use ``PFLD(input_size=32, width=4)`` with it). One form, so ``oneshot`` changes nothing."""
        return cls(input_size=32, width=4, auxiliary=False)

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        """A random batch of this space's input size, ``(batch_size, 3, input_size, input_size)``."""
        return torch.rand(batch_size, 3, self.input_size, self.input_size)


def stage_blocks() -> list[tuple[str, int]]:
    """``(label, stage)`` of every searched layer, in network order."""
    return [(f"block_{i}", stage) for i, stage in enumerate(s for s, n in enumerate(STAGE_LAYERS) for _ in range(n))]


__all__ = ["NUM_POINTS", "PFLD", "STAGE_OPS", "AuxiliaryNet", "GhostModule", "MBBlock", "PeleeStem", "SeparableConv",
           "make_op", "stage_blocks"]
