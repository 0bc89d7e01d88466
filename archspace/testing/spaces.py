"""Small model spaces that exercise every primitive; used by tests, docs and the demo.

Each space takes 1x8x8 images (digits-sized) and returns 10 logits, so any of its samples can be
frozen, run and trained in milliseconds.
"""

from __future__ import annotations

import torch
from torch import nn

import archspace as asp


class Block(nn.Module):
    """conv-bn-activation with a residual add; the activation is a LayerChoice."""

    def __init__(self, width: object) -> None:
        super().__init__()
        self.conv = asp.nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn = asp.nn.BatchNorm2d(width)
        self.act = asp.LayerChoice({"relu": nn.ReLU(), "gelu": nn.GELU()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.bn(self.conv(x)))


class ExampleNet(asp.ModelSpace):
    """The space of the README: width, an op choice, a variable-depth stack of blocks."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        width = asp.choice("width", [16, 32, 64])
        self.stem = asp.nn.Conv2d(in_channels, width, 3, padding=1)
        self.op = asp.LayerChoice(
            {
                "conv3": asp.nn.Conv2d(width, width, 3, padding=1),
                "conv5": asp.nn.Conv2d(width, width, 5, padding=2),
                "pool": nn.MaxPool2d(3, 1, 1),
            },
            label="op",
        )
        self.blocks = asp.Repeat(lambda i: Block(width), depth=asp.choice("depth", [1, 2, 3]))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = asp.nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(torch.relu(self.op(self.stem(x))))
        return self.head(self.pool(x).flatten(1))


def handwritten_example(sample: dict[str, object], in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    """The network ``sample`` picks from :class:`ExampleNet`, written with plain torch only."""

    class HandBlock(nn.Module):
        def __init__(self, width: int, act: str) -> None:
            super().__init__()
            self.conv = nn.Conv2d(width, width, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(width)
            self.act = nn.ReLU() if act == "relu" else nn.GELU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.act(self.bn(self.conv(x)))

    class Hand(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = int(sample["width"])  # type: ignore[call-overload]
            self.stem = nn.Conv2d(in_channels, w, 3, padding=1)
            op = sample["op"]
            self.op = (
                nn.Conv2d(w, w, 3, padding=1) if op == "conv3"
                else nn.Conv2d(w, w, 5, padding=2) if op == "conv5"
                else nn.MaxPool2d(3, 1, 1)
            )
            depth = int(sample["depth"])  # type: ignore[call-overload]
            self.blocks = nn.Sequential(*(HandBlock(w, str(sample[f"blocks.{i}.act"])) for i in range(depth)))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(w, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.blocks(torch.relu(self.op(self.stem(x))))
            return self.head(self.pool(x).flatten(1))

    return Hand()


def _cell_ops(channels: int) -> dict[str, nn.Module]:
    return {
        "conv3": nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)),
        "pool": nn.AvgPool2d(3, 1, 1),
        "skip": nn.Identity(),
    }


class CellNet(asp.ModelSpace):
    """Two stacked DARTS-style cells (3 nodes, 2 ops per node, 2 predecessors) and an InputChoice."""

    def __init__(self, channels: int = 8, num_nodes: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, channels, 3, padding=1)
        self.cell1 = asp.Cell(_cell_ops(channels), num_nodes, 2, 2, "all")
        self.reduce1 = nn.Conv2d(channels * num_nodes, channels, 1)
        self.cell2 = asp.Cell(lambda node, k, inp: _cell_ops(channels), num_nodes, 2, 2, "loose_end",
                              label="second")
        self.mix = asp.InputChoice(3, 1, "sum", label="skip_from")
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.stem(x)
        c1 = self.reduce1(self.cell1(s0, s0))
        c2 = self.cell2([s0, c1])
        c2 = c2[:, : s0.shape[1]] if c2.shape[1] > s0.shape[1] else c2
        out = self.mix([s0, c1, c2])
        return self.classifier(out.mean((2, 3)))


class Inner(nn.Module):
    """A candidate holding decisions of its own (nested under the outer LayerChoice)."""

    def __init__(self) -> None:
        super().__init__()
        k = asp.choice("inner_kernel", [1, 3])
        self.conv = asp.nn.Conv2d(8, 8, k, padding=k // 2)
        self.act = asp.LayerChoice([nn.ReLU(), nn.Sigmoid()], label="inner_act")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class NestedNet(asp.ModelSpace):
    """Conditional decisions: a choice inside a LayerChoice candidate; a range-depth Repeat whose
    blocks hold auto-labelled LayerChoices; an InputChoice choosing two of three."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.outer = asp.LayerChoice({"plain": nn.Conv2d(8, 8, 3, padding=1), "nested": Inner()}, label="outer")
        self.stack = asp.Repeat(
            lambda i: asp.LayerChoice([nn.Conv2d(8, 8, 3, padding=1), nn.Identity()]), depth=range(0, 3)
        )
        self.pick = asp.InputChoice(3, n_chosen=2, reduction="concat")
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        a = self.outer(s)
        b = self.stack(a)
        return self.head(self.pick([s, a, b]).mean((2, 3)))


class SharedNet(asp.ModelSpace):
    """Shared labels: two LayerChoices that are one decision, and one width used by four layers."""

    def __init__(self) -> None:
        super().__init__()
        width = asp.choice("width", [4, 8])
        self.conv1 = asp.nn.Conv2d(1, width, 3, padding=1)
        self.act1 = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.conv2 = asp.nn.Conv2d(width, width * 2, 3, padding=1)
        self.norm = asp.nn.BatchNorm2d(width * 2)
        self.act2 = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        self.head = asp.nn.Linear(width * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.norm(self.conv2(self.act1(self.conv1(x)))))
        return self.head(x.mean((2, 3)))


TEST_SPACES: dict[str, type[asp.ModelSpace]] = {
    "example": ExampleNet,
    "cell": CellNet,
    "nested": NestedNet,
    "shared": SharedNet,
}

__all__ = ["TEST_SPACES", "CellNet", "ExampleNet", "NestedNet", "SharedNet", "handwritten_example"]


class TinySpace(asp.ModelSpace):
    """Two value decisions feeding a linear layer (4 features in): 8 x 2 samples, frozen in well
    under a millisecond; for engine tests and benchmarks (not an image space like the others)."""

    def __init__(self) -> None:
        super().__init__()
        self.x = asp.choice("x", list(range(8)))
        hidden = asp.choice("hidden", [2, 4])
        self.fc = asp.nn.Linear(4, hidden)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.fc(inputs)


__all__ += ["TinySpace"]
