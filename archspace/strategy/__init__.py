"""Multi-trial strategies (ask/tell), one file per algorithm, and a registry by name.

Example:
    >>> from archspace.strategy import STRATEGIES, create_strategy
    >>> STRATEGIES.list()
    ['bananas', 'evolution', 'gp', 'grid', 'local_search', 'random', 'rl', 'tpe']
    >>> type(create_strategy("Random", dedup=False)).__name__
    'Random'
"""

from __future__ import annotations

from typing import Any

from archspace.errors import UnknownNameError
from archspace.strategy.bananas import BANANAS
from archspace.strategy.base import STRATEGIES, SampleFilter, Strategy, StrategyError
from archspace.strategy.evolution import RegularizedEvolution
from archspace.strategy.gp import GPBO
from archspace.strategy.grid import GridSearch
from archspace.strategy.local_search import LocalSearch
from archspace.strategy.random import Random
from archspace.strategy.rl import PolicyBasedRL
from archspace.strategy.tpe import TPE

STRATEGIES.add("random", Random)
STRATEGIES.add("grid", GridSearch)
STRATEGIES.add("evolution", RegularizedEvolution)
STRATEGIES.add("tpe", TPE)
STRATEGIES.add("rl", PolicyBasedRL)
STRATEGIES.add("bananas", BANANAS)
STRATEGIES.add("local_search", LocalSearch)
STRATEGIES.add("gp", GPBO)


def create_strategy(name: str, **kwargs: Any) -> Strategy:
    """Build a registered strategy by name (for configs and the CLI).

    Raises:
        UnknownNameError: no strategy has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the strategy does not take.
    """
    return STRATEGIES.create(name, **kwargs)


def list_strategies() -> list[str]:
    """The registered strategy names, sorted."""
    return STRATEGIES.list()


__all__ = ["BANANAS", "GPBO", "STRATEGIES", "TPE", "GridSearch", "LocalSearch", "PolicyBasedRL", "Random", "RegularizedEvolution", "SampleFilter", "Strategy",
           "StrategyError", "UnknownNameError", "create_strategy", "list_strategies"]
