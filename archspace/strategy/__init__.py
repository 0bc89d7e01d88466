"""Multi-trial strategies (ask/tell), one file per algorithm, and a registry by name."""

from __future__ import annotations

from typing import Any

from archspace.errors import ArchspaceError
from archspace.strategy.base import SampleFilter, Strategy, StrategyError
from archspace.strategy.evolution import RegularizedEvolution
from archspace.strategy.grid import GridSearch
from archspace.strategy.random import Random
from archspace.strategy.rl import PolicyBasedRL
from archspace.strategy.tpe import TPE

STRATEGIES: dict[str, type[Strategy]] = {
    "random": Random,
    "grid": GridSearch,
    "evolution": RegularizedEvolution,
    "tpe": TPE,
    "rl": PolicyBasedRL,
}


class UnknownNameError(ArchspaceError, KeyError):
    """A registry lookup named something that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


def create_strategy(name: str, **kwargs: Any) -> Strategy:
    """Build a registered strategy by name (for configs and the CLI)."""
    try:
        cls = STRATEGIES[name.lower()]
    except KeyError:
        raise UnknownNameError(f"unknown strategy {name!r}; known strategies: {sorted(STRATEGIES)}") from None
    return cls(**kwargs)


__all__ = ["STRATEGIES", "TPE", "GridSearch", "PolicyBasedRL", "Random", "RegularizedEvolution", "SampleFilter", "Strategy", "StrategyError", "UnknownNameError",
           "create_strategy"]
