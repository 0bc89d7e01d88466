"""Ready-made model spaces, one file each, and a registry by name.

Every space in :data:`HUB` passes the hub contract suite
(:func:`archspace.testing.hub_contracts.check_hub_space`), which the test suite runs over the
registry on each space's ``small()`` instance and ``example_input()`` batch: a space registered
here is tested without editing a test list. Give a new space both (or the suite falls back to its
default constructor and fails without an example input).

Example:
    >>> from archspace.hub import HUB, create_space
    >>> "nasbench201" in HUB.list()
    True
    >>> type(create_space("nasbench201", channels=4, num_cells=1)).__name__
    'NasBench201'
"""

from __future__ import annotations

from typing import Any

from archspace.hub.darts import DARTS_V2, DartsSpace, from_genotype, from_nni_darts, to_nni_darts
from archspace.hub.enas import EnasMacroSpace, EnasMicroSpace
from archspace.hub.nasbench201 import RESNET_CELL, NasBench201, from_arch_str, to_arch_str
from archspace.hub.pfld import PFLD
from archspace.hub.proxylessnas import ProxylessNASSpace
from archspace.hub.shufflenet import OFFICIAL_ARCH as SPOS_OFFICIAL_ARCH
from archspace.hub.shufflenet import ShuffleNetSpace
from archspace.nn.space import ModelSpace
from archspace.registry import Registry

HUB: Registry[ModelSpace] = Registry("hub space")
HUB.add("nasbench201", NasBench201)
HUB.add("darts", DartsSpace)
HUB.add("pfld", PFLD)
HUB.add("enas_macro", EnasMacroSpace)
HUB.add("enas_micro", EnasMicroSpace)
HUB.add("proxylessnas", ProxylessNASSpace)
HUB.add("shufflenet_spos", ShuffleNetSpace)


def create_space(name: str, **kwargs: Any) -> ModelSpace:
    """Build a registered hub space by name, e.g. ``create_space("darts", width=16)``.

    Raises:
        UnknownNameError: no hub space has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the space does not take.
    """
    return HUB.create(name, **kwargs)


def list_spaces() -> list[str]:
    """The registered hub space names, sorted."""
    return HUB.list()


__all__ = ["DARTS_V2", "HUB", "RESNET_CELL", "DartsSpace", "EnasMacroSpace", "EnasMicroSpace", "NasBench201", "PFLD", "ProxylessNASSpace", "SPOS_OFFICIAL_ARCH", "ShuffleNetSpace", "create_space", "from_arch_str", "from_genotype",
           "from_nni_darts", "list_spaces", "to_arch_str", "to_nni_darts"]
