"""PyTorch primitives of model spaces: decisions as modules, mutable-aware layers, ModelSpace."""

from __future__ import annotations

from archspace.nn.cell import Cell, FixedCell
from archspace.nn.choices import ChosenInputs, InputChoice, LayerChoice
from archspace.nn.layers import BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, LayerNorm, Linear, MutableLayer
from archspace.nn.mutable import Mutable, choice
from archspace.nn.repeat import Repeat
from archspace.nn.space import ModelSpace, fixed_arch

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "Cell",
    "ChosenInputs",
    "Conv1d",
    "Conv2d",
    "FixedCell",
    "InputChoice",
    "LayerChoice",
    "LayerNorm",
    "Linear",
    "ModelSpace",
    "Mutable",
    "MutableLayer",
    "Repeat",
    "choice",
    "fixed_arch",
]
