"""The space walker: one traversal of the module tree that both lists and freezes decisions.

Listing (``collect_space``) visits every module with the condition under which it is active and
files each decision under its label; labels left unset come from the module path, so they are the
same in every run and process. Freezing (``freeze_tree``) follows the same paths but only into the
chosen branches, replacing each decision-carrying module by its chosen plain module.
"""

from __future__ import annotations

from types import TracebackType

from torch import nn

from archspace.errors import ChoiceMisuseError, DuplicateLabelError
from archspace.nn.layers import MutableLayer
from archspace.nn.mutable import Mutable, Resolver
from archspace.space.conditions import Condition
from archspace.space.decisions import Categorical, find_leaves
from archspace.space.search_space import SearchSpace


def join(path: str, name: str) -> str:
    """The module path of child ``name`` below ``path``."""
    return f"{path}.{name}" if path else name


class _Collector:
    def __init__(self) -> None:
        self.decisions: dict[str, Categorical] = {}
        self.conditions: dict[str, Condition] = {}
        self.places: dict[str, str] = {}

    def add(self, decision: Categorical, condition: Condition, place: str) -> None:
        label = decision.label
        known = self.decisions.get(label)
        if known is None:
            self.decisions[label] = decision
            self.conditions[label] = condition
            self.places[label] = place
            return
        if not known.same_candidates(decision):
            raise DuplicateLabelError(
                f"label {label!r} names two different decisions: {list(known.values)!r} at "
                f"{self.places[label]} and {list(decision.values)!r} at {place}; decisions that "
                "share a label must offer the same candidates (or give them different labels)"
            )
        self.conditions[label] = self.conditions[label].union(condition)


def _place(path: str, decision: Categorical) -> str:
    where = repr(path) if path else "the model"
    return f"{where} (written at {decision.origin})" if decision.origin and decision.origin != path else where


def attribute_choices(module: nn.Module, path: str) -> list[Categorical]:
    """Choices a plain module stores as attributes.

    A torch layer that stored one would silently use it as a value, so that is refused; the
    user's own modules may keep choices (e.g. a rate used in ``forward``): they are decisions of
    that module, plain values once frozen.
    """
    found: list[Categorical] = []
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        leaves = find_leaves(value)
        if leaves and type(module).__module__.startswith("torch."):
            raise misuse_error(module, path, attr, leaves[0])
        found += leaves
    return found


def misuse_error(module: nn.Module, path: str, arg: str, leaf: Categorical) -> ChoiceMisuseError:
    """The error for a choice given to a plain torch module, naming the archspace layer to use."""
    from archspace import nn as asp_nn

    cls = type(module)
    name = f"{cls.__module__}.{cls.__qualname__}"
    where = f" at {path!r}" if path else ""
    if hasattr(asp_nn, cls.__name__) and isinstance(getattr(asp_nn, cls.__name__), type):
        fix = f"use archspace.nn.{cls.__name__}, the mutable-aware version"
    else:
        fix = "wrap concrete variants in a LayerChoice, or write the layer with archspace.nn layers"
    return ChoiceMisuseError(
        f"{name}{where} got choice {leaf.label!r} for {arg!r}; plain torch layers need concrete "
        f"values: {fix}"
    )


def explain_misuse(exc: BaseException) -> ChoiceMisuseError | None:
    """If ``exc`` came from a torch layer's constructor fed a choice, the clear error for it."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        frame_locals = tb.tb_frame.f_locals
        owner = frame_locals.get("self")
        if (
            isinstance(owner, nn.Module)
            and not isinstance(owner, (Mutable, MutableLayer))
            and type(owner).__module__.startswith("torch.")
        ):
            for arg, value in frame_locals.items():
                leaves = find_leaves(value) if arg != "self" else []
                if leaves:
                    return misuse_error(owner, "", arg, leaves[0])
        tb = tb.tb_next
    return None


def collect_space(root: nn.Module) -> SearchSpace:
    """The search space of the module tree below ``root``."""
    collector = _Collector()

    def walk(module: nn.Module, path: str, condition: Condition) -> None:
        if isinstance(module, Mutable):
            label = module.label or path
            for decision in module.decisions(label):
                collector.add(decision, condition, _place(path, decision))
            for suffix, child, requirements in module.branches(label):
                cond = condition
                for req_label, values in requirements:
                    cond = cond.require(req_label, values)
                walk(child, join(path, suffix), cond)
            return
        if isinstance(module, MutableLayer):
            for leaf in module.value_decisions():
                collector.add(leaf, condition, _place(path, leaf))
            return
        for leaf in attribute_choices(module, path):
            collector.add(leaf, condition, _place(path, leaf))
        for name, child in module.named_children():
            walk(child, join(path, name), condition)

    walk(root, "", Condition.always())
    return SearchSpace(collector.decisions, collector.conditions)


def freeze_tree(module: nn.Module, path: str, resolver: Resolver) -> nn.Module:
    """Replace, below ``module``, every decision-carrying module by its chosen plain module."""
    if isinstance(module, Mutable):
        label = module.label or path
        return module.freeze_with(
            label, resolver, lambda suffix, child: freeze_tree(child, join(path, suffix), resolver)
        )
    if isinstance(module, MutableLayer):
        return module.to_plain(resolver, path)
    for name, child in list(module._modules.items()):
        if child is None:
            continue
        new = freeze_tree(child, join(path, name), resolver)
        if new is not child:
            module._modules[name] = new
    return module


def holds_decisions(module: nn.Module) -> list[str]:
    """Paths of modules below ``module`` that still carry decisions (empty for a frozen model)."""
    return [p or "<root>" for p, m in module.named_modules() if isinstance(m, (Mutable, MutableLayer))]


__all__ = ["attribute_choices", "collect_space", "explain_misuse", "freeze_tree", "holds_decisions", "join", "misuse_error"]
