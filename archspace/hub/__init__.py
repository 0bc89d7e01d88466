"""Ready-made model spaces, one file each, and a registry by name."""

from __future__ import annotations

from archspace.hub.darts import DartsSpace
from archspace.hub.nasbench201 import NasBench201, from_arch_str, to_arch_str
from archspace.nn.space import ModelSpace

HUB: dict[str, type[ModelSpace]] = {"nasbench201": NasBench201, "darts": DartsSpace}

__all__ = ["HUB", "DartsSpace", "NasBench201", "from_arch_str", "to_arch_str"]
