"""Repeat: a stack of blocks whose depth may be a decision."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn.mutable import Branch, FreezeChild, Mutable, Resolver
from archspace.space.decisions import Categorical, ValueExpr


def _fresh_copy(module: nn.Module) -> nn.Module:
    """A deep copy with its own initialisation, as if the block had been written out again."""
    block = copy.deepcopy(module)
    for sub in block.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
    return block


def _depths(depth: Any) -> list[int]:
    """The allowed depths of a Repeat's ``depth`` argument, or a clear error naming what is allowed."""
    allowed = "an int, a (min, max) tuple, a range or a choice such as archspace.choice('depth', [1, 2])"
    if isinstance(depth, bool):
        raise SpaceDefinitionError(f"Repeat depth must be {allowed}, got {depth!r}")
    if isinstance(depth, int):
        depths = [depth]
    elif isinstance(depth, tuple):
        if len(depth) != 2 or any(isinstance(d, bool) or not isinstance(d, int) for d in depth):
            raise SpaceDefinitionError(
                f"Repeat depth={depth!r}: a tuple is NNI's (min, max), two ints bounding the depth inclusively; "
                "for a list of depths give archspace.choice(label, [...])"
            )
        low, high = depth
        if low > high:
            raise SpaceDefinitionError(
                f"Repeat depth={depth!r}: min {low} is above max {high}; (min, max) bounds the depth inclusively, "
                f"e.g. ({high}, {low})"
            )
        depths = list(range(low, high + 1))
    elif isinstance(depth, range):
        depths = list(depth)
    elif isinstance(depth, Categorical):
        depths = list(depth.values)
    elif isinstance(depth, ValueExpr):
        raise SpaceDefinitionError(f"Repeat depth {depth!r} is an expression; give a choice of depths directly")
    else:
        raise SpaceDefinitionError(f"Repeat depth must be {allowed}, got {depth!r}")
    if not depths or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in depths):
        raise SpaceDefinitionError(f"Repeat depths must be non-negative ints, got {depths!r}")
    return depths


def _blocks(factory: Any, count: int) -> list[Any]:
    """The ``count`` blocks of a Repeat: copies of a module, a list's items, or a factory's results."""
    if isinstance(factory, nn.Module):
        return [_fresh_copy(factory) for _ in range(count)]
    if isinstance(factory, (list, tuple)):
        if len(factory) != count:
            raise SpaceDefinitionError(
                f"Repeat got a list of {len(factory)} blocks for a depth of up to {count}; a list needs one block "
                "per depth up to the largest (or give one module to copy, or a factory)"
            )
        return list(factory)
    if callable(factory):
        return [factory(i) for i in range(count)]
    raise SpaceDefinitionError(
        "Repeat blocks must be a module, a list of modules or a callable taking the block index, "
        f"got {type(factory).__name__}"
    )


class Repeat(Mutable):
    """``depth`` blocks in sequence; block ``i`` is ``factory(i)`` (or a deep copy of a module).

    Args:
        factory: a callable taking the block index; a module to copy for every block (each copy
            re-initialised with ``reset_parameters``, like a block written out again); or, as in
            NNI, a list of modules, one per block up to the largest depth.
        depth: an int; ``(min, max)``, NNI's spelling of a depth from ``min`` to ``max``
            inclusive; a ``range`` of depths; or a choice such as
            ``archspace.choice("depth", [1, 2, 3])``. A tuple or range is labelled by ``label``
            (or the module path).
        label: the depth decision's label when ``depth`` is a tuple or a range.

    Decisions inside block ``i`` are active only when the depth exceeds ``i``. Frozen, a Repeat
    becomes an ``nn.Sequential`` of the chosen number of blocks (keys ``0.``, ``1.``, ...).

    Example:
        >>> import torch.nn as nn, archspace as asp
        >>> stack = asp.Repeat(nn.Linear(4, 4), depth=(1, 3), label="depth")
        >>> stack.decisions("depth")
        [Categorical([1, 2, 3], label='depth')]
    """

    def __init__(
        self,
        factory: Callable[[int], nn.Module] | nn.Module | Sequence[nn.Module],
        depth: int | tuple[int, int] | range | Categorical,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        self._depth_decision: Categorical | None = None
        self.depths = _depths(depth)
        if isinstance(depth, Categorical):
            self._depth_decision = depth
        for i, block in enumerate(_blocks(factory, max(self.depths))):
            if not isinstance(block, nn.Module):
                raise SpaceDefinitionError(f"Repeat block {i} is a {type(block).__name__}, not an nn.Module")
            self.add_module(str(i), block)

    def _decision(self, label: str) -> Categorical | None:
        if self._depth_decision is not None:
            return self._depth_decision
        if len(self.depths) > 1:
            return Categorical(self.depths, label, origin=label)
        return None

    def decisions(self, label: str) -> list[Categorical]:
        decision = self._decision(label)
        return [decision] if decision is not None else []

    def branches(self, label: str) -> Iterator[Branch]:
        decision = self._decision(label)
        for name, block in self._modules.items():
            assert block is not None
            index = int(name)
            if decision is None or index < min(self.depths):
                yield name, block, []
            else:
                yield name, block, [(decision.label, [d for d in self.depths if d > index])]

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        decision = self._decision(label)
        depth: int = resolver.value(decision, label) if decision is not None else self.depths[0]
        blocks = [freeze_child(str(i), self._modules[str(i)]) for i in range(depth)]  # type: ignore[arg-type]
        return nn.Sequential(*blocks)

    def blocks(self) -> list[nn.Module]:
        """Every block, in order: the stack of the deepest allowed depth (a supernet mixes them all)."""
        return [block for block in self._modules.values() if block is not None]

    def extra_repr(self) -> str:
        return f"depths={self.depths}"


__all__ = ["Repeat"]
