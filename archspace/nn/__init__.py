"""PyTorch primitives of model spaces: decisions as modules, mutable-aware layers, ModelSpace."""

from __future__ import annotations

from archspace.nn.cell import Cell, FixedCell
from archspace.nn.choices import ChosenInputs, InputChoice, LayerChoice
from archspace.nn.layers import (
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Conv3d,
    Dropout,
    Embedding,
    GroupNorm,
    LayerNorm,
    Linear,
    MixedForm,
    MultiheadAttention,
    MutableLayer,
)
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
    "Conv3d",
    "Dropout",
    "Embedding",
    "FixedCell",
    "GroupNorm",
    "InputChoice",
    "LayerChoice",
    "LayerNorm",
    "Linear",
    "MixedForm",
    "ModelSpace",
    "MultiheadAttention",
    "Mutable",
    "MutableLayer",
    "Repeat",
    "choice",
    "fixed_arch",
]
