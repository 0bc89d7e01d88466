"""Ready-made model spaces, one file each, and a registry by name.

Every space in :data:`HUB` is a :class:`~archspace.nn.ModelSpace` that satisfies the
:class:`HubSpace` protocol (a ``small()`` classmethod and an ``example_input()`` batch) and passes
the hub contract suite (:func:`archspace.testing.hub_contracts.check_hub_space`), which the test
suite runs over the registry on each space's ``small()`` instance and ``example_input()`` batch: a
space registered here is tested without editing a test list or adding a special case.

Example:
    >>> from archspace.hub import HUB, create_space
    >>> "nasbench201" in HUB.list()
    True
    >>> type(create_space("nasbench201", channels=4, num_cells=1)).__name__
    'NasBench201'
"""

from __future__ import annotations

from typing import Any, cast

from archspace.hub.darts import DARTS_V2, DartsSpace, from_genotype, from_nni_darts, to_nni_darts
from archspace.hub.enas import EnasMacroSpace, EnasMicroSpace
from archspace.hub.nasbench201 import RESNET_CELL, NasBench201, from_arch_str, to_arch_str
from archspace.hub.pfld import PFLD
from archspace.hub.protocol import HubSpace
from archspace.hub.proxylessnas import ProxylessNASSpace
from archspace.hub.shufflenet import OFFICIAL_ARCH as SPOS_OFFICIAL_ARCH
from archspace.hub.shufflenet import ShuffleNetSpace
from archspace.nn.space import ModelSpace
from archspace.registry import Registry, RegistryError

#: Every ready-made space by name: each entry is a ModelSpace class satisfying :class:`HubSpace`.
HUB: Registry[HubSpace] = Registry("hub space")
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
    space = HUB.create(name, **kwargs)
    if not isinstance(space, ModelSpace):
        raise RegistryError(f"hub space {name!r} built {type(space).__name__}, not a ModelSpace")
    return space


def space_class(name: str) -> type[HubSpace]:
    """The class registered as hub space ``name``, typed by :class:`HubSpace`: its ``small()`` and
    (on an instance) ``example_input()`` are what the shared suites call.

    Raises:
        UnknownNameError: no hub space has that name; the message lists the known ones.
        archspace.registry.RegistryError: the entry is a function, not a class with ``small()``.
    """
    entry = HUB.get(name)
    if not isinstance(entry, type) or not isinstance(entry, HubSpace):
        raise RegistryError(f"hub space {name!r} is registered as {entry!r}, not a class with small() and "
                            "example_input() (the HubSpace protocol)")
    return cast("type[HubSpace]", entry)  # checked above; mypy cannot narrow a callable to a protocol class


def list_spaces() -> list[str]:
    """The registered hub space names, sorted."""
    return HUB.list()


__all__ = ["DARTS_V2", "HUB", "PFLD", "RESNET_CELL", "SPOS_OFFICIAL_ARCH", "DartsSpace", "EnasMacroSpace",
           "EnasMicroSpace", "HubSpace", "NasBench201", "ProxylessNASSpace", "ShuffleNetSpace", "create_space",
           "from_arch_str", "from_genotype", "from_nni_darts", "list_spaces", "space_class", "to_arch_str",
           "to_nni_darts"]
