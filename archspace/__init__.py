"""archspace: neural architecture search for PyTorch.

Write a model space (ordinary PyTorch with decision points), list its decisions, and turn any
sample of it into a plain ``nn.Module``.

Everything archspace builds by name sits in one kind of registry (:class:`archspace.registry.Registry`),
reachable from here as ``create_*`` / ``list_*`` pairs: strategies, hub spaces, evaluators,
one-shot algorithms, executors and datasets. :class:`Experiment` and these functions are imported
on first use, so ``import archspace`` stays light.

Example:
    >>> import archspace as asp
    >>> asp.list_strategies()
    ['bananas', 'evolution', 'gp', 'grid', 'local_search', 'random', 'rl', 'tpe']
    >>> type(asp.create_strategy("evolution", population_size=8, sample_size=4)).__name__
    'RegularizedEvolution'
    >>> {"darts", "nasbench201", "pfld"} <= set(asp.list_spaces()), "darts" in asp.list_oneshot()
    (True, True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    UnknownNameError,
)
from archspace.hardware import count_flops, count_params
from archspace.nn import Cell, InputChoice, LayerChoice, ModelSpace, Repeat, choice, fixed_arch
from archspace.space import Categorical, Condition, SearchSpace, fingerprint, load_sample, save_sample
from archspace.space.expressions import condition, to_int
from archspace.space.expressions import maximum as max  # asp.max / asp.min shadow the builtins only inside archspace.*
from archspace.space.expressions import minimum as min

if TYPE_CHECKING:  # imported lazily below (module __getattr__)
    from archspace.data import create_dataset, list_datasets
    from archspace.evaluate import create_evaluator, list_evaluators
    from archspace.experiment import Executor, Experiment
    from archspace.hub import create_space, list_spaces
    from archspace.oneshot import create_oneshot, list_oneshot
    from archspace.strategy import create_strategy, list_strategies

__version__ = "0.1.0"

# name -> module that defines it; loaded on first access (these modules import much of the package)
_LAZY = {
    "Experiment": "archspace.experiment",
    "create_strategy": "archspace.strategy",
    "list_strategies": "archspace.strategy",
    "create_space": "archspace.hub",
    "list_spaces": "archspace.hub",
    "create_evaluator": "archspace.evaluate",
    "list_evaluators": "archspace.evaluate",
    "create_oneshot": "archspace.oneshot",
    "list_oneshot": "archspace.oneshot",
    "create_dataset": "archspace.data",
    "list_datasets": "archspace.data",
}


def create_executor(name: str, /, *args: Any, **kwargs: Any) -> Executor:
    """Build a registered executor by name, e.g. ``create_executor("process", 4)``.

    Raises:
        UnknownNameError: no executor has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the executor does not take.
    """
    from archspace.experiment import EXECUTORS

    return EXECUTORS.create(name, *args, **kwargs)


def list_executors() -> list[str]:
    """The registered executor names, sorted."""
    from archspace.experiment import EXECUTORS

    return EXECUTORS.list()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archspace' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "ArchspaceError",
    "Categorical",
    "Cell",
    "ChoiceMisuseError",
    "Condition",
    "DuplicateLabelError",
    "Experiment",
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
    "UnknownNameError",
    "__version__",
    "choice",
    "condition",
    "count_flops",
    "count_params",
    "create_dataset",
    "create_evaluator",
    "create_executor",
    "create_oneshot",
    "create_space",
    "create_strategy",
    "fingerprint",
    "fixed_arch",
    "list_datasets",
    "list_evaluators",
    "list_executors",
    "list_oneshot",
    "list_spaces",
    "list_strategies",
    "load_sample",
    "max",
    "min",
    "nn",
    "save_sample",
    "to_int",
]
