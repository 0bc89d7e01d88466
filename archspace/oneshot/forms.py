"""The seam between model spaces and supernets: how each decision-carrying module gets its mixed form.

``archspace.nn`` describes decisions and knows nothing of one-shot search; this side says how each
decision type becomes its weight-sharing form. :func:`register_mixed` files a factory under a
module class (LayerChoice, InputChoice, Repeat, Cell and the archspace.nn layers register theirs
in ``mixed_ops.py``, ``mixed_values.py`` and ``cell_mixed.py``; a hub space or a user registers
its own the same way), and :func:`mixed_form` finds the one of the closest class. A
:class:`~archspace.nn.Mutable` subclass may instead define ``to_mixed(label, builder)`` itself,
which counts as a registration of its own class. Every mixed form is a :class:`MixedModule`: it
reads its weights from the pass's :class:`~archspace.oneshot.policy.Mix` and knows its plain
form under a sample (:meth:`MixedModule.subnet`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn.layers import MutableLayer
from archspace.nn.mutable import Mutable
from archspace.nn.walk import join
from archspace.oneshot.arch import ArchParameters
from archspace.oneshot.policy import Mix, current_mix
from archspace.oneshot.savings import Savings

# Freezes a supernet sub-tree under a sample: (module, sample) -> plain module with its weights.
SubnetChild = Callable[[nn.Module, Mapping[str, Any]], nn.Module]


class MixedBuilder:
    """What a decision needs to build its mixed form: its place, the logits, its children's forms.

    Attributes:
        arch: the supernet's architecture parameters; :meth:`register` a label before mixing it.
        path: the module path of the decision being converted (labels default to it).
    """

    def __init__(self, arch: ArchParameters, path: str, convert: Callable[[nn.Module, str], nn.Module]) -> None:
        self.arch = arch
        self.path = path
        self._convert = convert

    def register(self, label: str, values: Sequence[Any]) -> None:
        """Create the logits of decision ``label`` over ``values`` (shared labels share them)."""
        self.arch.register(label, list(values))

    def child(self, suffix: str, module: nn.Module) -> nn.Module:
        """The mixed form of a child module at ``path.suffix`` (converted recursively)."""
        return self._convert(module, join(self.path, suffix))


class MixedModule(nn.Module):
    """Base of the mixed forms: the supernet exports and extracts subnets through these hooks.

    Args:
        arch: the architecture parameters the module's decisions are registered in.

    Attributes:
        savings: the supernet's :class:`Savings` (set on every mixed form by the supernet).
    """

    savings: Savings = Savings()

    def __init__(self, arch: ArchParameters) -> None:
        super().__init__()
        self._arch = [arch]  # a list: the shared parameters must not register as a child

    @property
    def arch(self) -> ArchParameters:
        """The architecture parameters of this module's decisions."""
        return self._arch[0]

    def mix(self, label: str) -> Mix:
        """The mix of ``label`` in the current forward pass."""
        return current_mix(label, self.arch)

    def export_into(self, sample: dict[str, Any]) -> None:
        """Add the choices this module derives beyond the argmax of each registered label.

        The supernet first sets every registered label that is a decision of the space to its
        strongest candidate; modules whose sample is not read off one label each (a cell's
        wiring) override this.
        """

    def subnet(self, sample: Mapping[str, Any], child: SubnetChild) -> nn.Module:
        """The plain module this one becomes under ``sample``, with the supernet's weights."""
        raise NotImplementedError(f"{type(self).__name__} has no subnet form")


M = TypeVar("M", bound=nn.Module)
#: Builds the mixed form of one module: ``factory(module, label, builder)``; ``label`` is the
#: module's label (or its path when it has none, and always for an archspace.nn layer).
MixedFactory = Callable[[M, str, MixedBuilder], nn.Module]
_FORMS: dict[type[nn.Module], MixedFactory[Any]] = {}


def register_mixed(cls: type[M]) -> Callable[[MixedFactory[M]], MixedFactory[M]]:
    """Register the decorated ``factory(module, label, builder)`` as the mixed form of ``cls``.

    It serves ``cls`` and its subclasses, unless a subclass has a registration (or, for a
    :class:`~archspace.nn.Mutable`, a ``to_mixed`` method) of its own. Registering a class again
    replaces its factory.

    Example:
        >>> from torch import nn
        >>> import archspace as asp
        >>> from archspace.oneshot import MixedBuilder, register_mixed
        >>> class Gate(asp.nn.MutableLayer, nn.Softplus): ...
        >>> @register_mixed(Gate)
        ... def mixed_gate(gate: Gate, label: str, builder: MixedBuilder) -> nn.Module:
        ...     return nn.Identity()
    """
    def add(factory: MixedFactory[M]) -> MixedFactory[M]:
        _FORMS[cls] = factory
        return factory

    return add


def mixed_form(module: Mutable | MutableLayer, label: str, builder: MixedBuilder) -> nn.Module:
    """The mixed form of ``module``, from the registration of its closest class.

    Raises:
        SpaceDefinitionError: no class of the module has a mixed form (a :class:`Mutable`'s default
            ``to_mixed`` says so, naming the type and the ways to give it one).
    """
    for cls in type(module).__mro__:
        factory = _FORMS.get(cls)
        if factory is not None:
            return factory(module, label, builder)
        if isinstance(module, Mutable) and "to_mixed" in vars(cls):
            return module.to_mixed(label, builder)
    kind = type(module)
    raise SpaceDefinitionError(f"{kind.__module__}.{kind.__qualname__} at {builder.path!r} has no one-shot mixed form: "
                               "register one with archspace.oneshot.register_mixed")


__all__ = ["MixedBuilder", "MixedFactory", "MixedModule", "SubnetChild", "mixed_form", "register_mixed"]
