"""The base of decision-carrying modules, and ``choice`` for value decisions.

A :class:`Mutable` module (LayerChoice, InputChoice, Repeat, Cell) tells the space walker three
things: which decisions it owns, which child modules are active under which values, and how to
turn itself into the chosen plain module given a sample; and it tells a one-shot supernet how it
becomes its mixed (weight-sharing) form, ``to_mixed``. Everything else (labels from module
paths, conditions, duplicate checks, freezing) is done once, by the walker in ``walk.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from torch import nn

from archspace.errors import SpaceDefinitionError, SpaceForwardError
from archspace.nn.context import current_frozen
from archspace.space.decisions import Categorical, caller_site

# (path suffix of a child module, the child, requirements [(label, allowed values), ...])
Branch = tuple[str, nn.Module, list[tuple[str, list[Any]]]]
FreezeChild = Callable[[str, nn.Module], nn.Module]


class MixedBuilding(Protocol):
    """What a one-shot supernet hands a decision to build its mixed form.

    ``archspace.oneshot.MixedBuilder`` implements it; it is named here so that this package,
    which one-shot search builds on, never imports it.

    Attributes:
        arch: the supernet's architecture parameters (mixed modules are built on them).
        path: the module path of the decision being converted.
    """

    arch: Any
    path: str

    def register(self, label: str, values: Sequence[Any]) -> None:
        """Create the logits of decision ``label`` over ``values``."""

    def child(self, suffix: str, module: nn.Module) -> nn.Module:
        """The mixed form of a child module at ``path.suffix``."""


class Resolver:
    """Reads decision values from the sample being built, recording which labels were read."""

    def __init__(self, sample: dict[str, Any], consumed: set[str]) -> None:
        self.sample = sample
        self.consumed = consumed

    def value(self, decision: Categorical, place: str) -> Any:
        """The sample's value for ``decision``, checked against its candidates."""
        from archspace.errors import MissingLabelError

        if decision.label not in self.sample:
            raise MissingLabelError(
                f"the sample has no value for label {decision.label!r}, which {place or 'the model'!r} "
                f"needs (allowed values: {list(decision.values)!r})"
            )
        self.consumed.add(decision.label)
        return decision.check(self.sample[decision.label])


def check_label(label: str | None, what: str) -> str | None:
    """Validate an explicit label (None means: derive it from the module path)."""
    if label is not None and (not isinstance(label, str) or not label):
        raise SpaceDefinitionError(f"{what}: label must be a non-empty string or None, got {label!r}")
    return label


class Mutable(nn.Module):
    """A module that carries decisions. Subclasses implement the three walker hooks."""

    def __init__(self, label: str | None = None) -> None:
        super().__init__()
        self.label = check_label(label, type(self).__name__)

    def decisions(self, label: str) -> list[Categorical]:
        """The decisions this module owns, given its resolved label."""
        raise NotImplementedError

    def branches(self, label: str) -> Iterator[Branch]:
        """Every child module, with the decision values under which it is active."""
        raise NotImplementedError

    def branch_outputs(self, label: str) -> dict[str, list[list[tuple[str, list[Any]]]]]:
        """Children whose outputs are read selectively: per child suffix, per output of the child,
        the decision values (any one suffices) under which that output is read.

        Eager PyTorch computes an unread output anyway; a graph compiler (ONNX Runtime) drops it,
        so a latency table keys such a child by which of its outputs are read. Default: none.
        """
        return {}

    def branch_flags(self, label: str) -> dict[str, list[list[tuple[str, list[Any]]]]]:
        """Children whose cost depends on conditions over decisions beyond their own (a Cell's
        merge of its loose ends: which nodes no later node reads): per child suffix, a list of
        conditions, each the (label, values) alternatives under which it holds. Default: none."""
        return {}

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        """The plain module this one becomes under the resolver's sample."""
        raise NotImplementedError

    def to_mixed(self, label: str, builder: MixedBuilding) -> nn.Module:
        """The one-shot mixed form of a decision type of your own (see :mod:`archspace.oneshot.forms`).

        Like :meth:`freeze_with`, a decision type may say how it becomes its weight-sharing form,
        so a supernet converts decision types it has never heard of. ``builder`` registers the
        decision's logits (``builder.register(label, values)``) and converts child modules
        (``builder.child(suffix, module)``); the returned module reads its weights in ``forward``
        with ``archspace.oneshot.current_mix(label, builder.arch)``. archspace's own decision
        types get theirs from ``archspace.oneshot.register_mixed``, which a type may use instead.

        Raises:
            SpaceDefinitionError: this decision type has no mixed form (the default).
        """
        cls = type(self)
        raise SpaceDefinitionError(
            f"{cls.__module__}.{cls.__qualname__} at {builder.path!r} has no one-shot mixed form: implement "
            "to_mixed(label, builder) on it (or register one with archspace.oneshot.register_mixed), freeze "
            "this decision, or express it with LayerChoice, InputChoice, Repeat, Cell and archspace.nn layers"
        )

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise SpaceForwardError(
            f"{type(self).__name__} (label {self.label!r}) is part of a model space and cannot run "
            "forward; build a model with space.freeze(sample) or archspace.fixed_arch(sample), or "
            "train the space as a one-shot supernet"
        )


def choice(label: str, values: Sequence[Any]) -> Any:
    """A categorical value decision named ``label``.

    In a model space it returns a :class:`~archspace.space.Categorical` that ``archspace.nn``
    layers, :class:`Repeat` and arithmetic (``width * 2``) accept. Under a sample
    (``space.freeze`` or ``fixed_arch``) it returns the chosen value itself, so it can feed any
    Python code in ``__init__``.

    Example:
        >>> import archspace as asp
        >>> width = asp.choice("width", [16, 32, 64])
        >>> with asp.fixed_arch({"width": 32}):
        ...     asp.choice("width", [16, 32, 64])
        32
    """
    decision = Categorical(values, label, origin=caller_site())
    state = current_frozen()
    if state is None or label not in state.sample:
        # In a space, or a label the sample leaves out (e.g. inside an unchosen candidate): stay
        # undecided. If the module using it ends up in the model, freezing reports the label.
        return decision
    state.consumed.add(label)
    return decision.check(state.sample[label])


__all__ = ["Branch", "FreezeChild", "MixedBuilding", "Mutable", "Resolver", "choice"]
