"""Ready-made model spaces, one file each, and a registry by name.

Every space in :data:`HUB` passes the hub contract suite
(:func:`archspace.testing.hub_contracts.check_hub_space`), which the test suite runs over the
registry on each space's ``small()`` instance and ``example_input()`` batch: a space registered
here is tested without editing a test list. Give a new space both (or the suite falls back to its
default constructor and fails without an example input).
"""

from __future__ import annotations

from archspace.hub.darts import DARTS_V2, DartsSpace, from_genotype, from_nni_darts, to_nni_darts
from archspace.hub.nasbench201 import RESNET_CELL, NasBench201, from_arch_str, to_arch_str
from archspace.nn.space import ModelSpace

HUB: dict[str, type[ModelSpace]] = {"nasbench201": NasBench201, "darts": DartsSpace}

__all__ = ["DARTS_V2", "HUB", "RESNET_CELL", "DartsSpace", "NasBench201", "from_arch_str", "from_genotype",
           "from_nni_darts", "to_arch_str", "to_nni_darts"]
