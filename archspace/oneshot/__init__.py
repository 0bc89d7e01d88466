"""One-shot NAS: weight-sharing supernets, the strategies that train them, and a registry by name.

Example:
    >>> from archspace.oneshot import ONESHOT, create_oneshot
    >>> ONESHOT.list()
    ['darts', 'gumbel']
    >>> create_oneshot("darts", order=2, epochs=3).epochs
    3
"""

from __future__ import annotations

from typing import Any

from archspace.oneshot._trainer import OneShotTrainer, average_gradients, broadcast_parameters
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.darts import DARTS
from archspace.oneshot.gumbel import GumbelDARTS
from archspace.oneshot.supernet import Supernet, to_supernet
from archspace.registry import Registry

ONESHOT: Registry[OneShotTrainer] = Registry("one-shot algorithm")
ONESHOT.add("darts", DARTS)
ONESHOT.add("gumbel", GumbelDARTS)


def create_oneshot(name: str, **kwargs: Any) -> OneShotTrainer:
    """Build a registered one-shot algorithm by name, e.g. ``create_oneshot("darts", epochs=50)``.

    Raises:
        UnknownNameError: no algorithm has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the algorithm (or its base trainer)
            does not take.
    """
    return ONESHOT.create(name, **kwargs)


def list_oneshot() -> list[str]:
    """The registered one-shot algorithm names, sorted."""
    return ONESHOT.list()


__all__ = ["DARTS", "ONESHOT", "ArchParameters", "GumbelDARTS", "OneShotTrainer", "Supernet", "average_gradients",
           "broadcast_parameters", "create_oneshot", "list_oneshot", "to_supernet"]
