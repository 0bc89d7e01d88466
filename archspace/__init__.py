"""archspace: neural architecture search for PyTorch.

Write a model space (ordinary PyTorch with decision points), list its decisions, and turn any
sample of it into a plain ``nn.Module``.
"""

from __future__ import annotations

from archspace import nn
from archspace.errors import (
    ArchspaceError,
    ChoiceMisuseError,
    DuplicateLabelError,
    InvalidValueError,
    MissingLabelError,
    SampleError,
    SampleFileError,
    SpaceDefinitionError,
    SpaceForwardError,
    UnknownLabelError,
)
from archspace.hardware import count_flops, count_params
from archspace.nn import Cell, InputChoice, LayerChoice, ModelSpace, Repeat, choice, fixed_arch
from archspace.space import Categorical, Condition, SearchSpace, fingerprint, load_sample, save_sample
from archspace.space.expressions import condition, to_int
from archspace.space.expressions import maximum as max  # asp.max / asp.min shadow the builtins only inside archspace.*
from archspace.space.expressions import minimum as min

__version__ = "0.1.0"

__all__ = [
    "ArchspaceError",
    "Categorical",
    "Cell",
    "ChoiceMisuseError",
    "Condition",
    "DuplicateLabelError",
    "InputChoice",
    "InvalidValueError",
    "LayerChoice",
    "MissingLabelError",
    "ModelSpace",
    "Repeat",
    "SampleError",
    "SampleFileError",
    "SearchSpace",
    "SpaceDefinitionError",
    "SpaceForwardError",
    "UnknownLabelError",
    "__version__",
    "choice",
    "condition",
    "count_flops",
    "count_params",
    "fingerprint",
    "fixed_arch",
    "load_sample",
    "max",
    "min",
    "nn",
    "save_sample",
    "to_int",
]
