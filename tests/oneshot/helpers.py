"""Small spaces for one-shot tests (module level: the DDP test's processes import them)."""

from __future__ import annotations

import torch
from torch import nn

import archspace as asp


class ZeroOut(nn.Module):
    """Destroys the signal."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


class Noise(nn.Module):
    """Replaces the signal by noise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(x)


class Toy(asp.ModelSpace):
    """One decision with a clearly right answer: keep the features ('keep')."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.op = asp.LayerChoice({"keep": nn.Identity(), "zero": ZeroOut(), "noise": Noise()}, label="op")
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.op(torch.relu(self.fc(x))))


def toy_data(seed: int = 0, n: int = 512) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[tuple[torch.Tensor, torch.Tensor]]]:
    """A learnable 4-class task on 8 features: (train batches, validation batches)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = x[:, :4].argmax(1)
    half = n // 2
    train = [(x[i:i + 32], y[i:i + 32]) for i in range(0, half, 32)]
    val = [(x[i:i + 32], y[i:i + 32]) for i in range(half, n, 32)]
    return train, val


class Smooth(asp.ModelSpace):
    """A tiny smooth network for gradient checks: two mixed decisions, no ReLU kinks."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.act = asp.LayerChoice({"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "id": nn.Identity()}, label="act")
        self.mid = asp.LayerChoice({"a": nn.Linear(6, 6), "b": nn.Sequential(nn.Linear(6, 6), nn.Tanh())}, label="mid")
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mid(self.act(self.fc(x))))
