"""Repeat: a stack of blocks whose depth may be a decision."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

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


class Repeat(Mutable):
    """``depth`` blocks in sequence; block ``i`` is ``factory(i)`` (or a deep copy of a module).

    Args:
        factory: a callable taking the block index, or a module to copy for every block
            (each copy re-initialised with ``reset_parameters``, like a block written out again).
        depth: an int, a ``range`` of depths (labelled by ``label`` or the module path), or a
            choice such as ``archspace.choice("depth", [1, 2, 3])``.
        label: the depth decision's label when ``depth`` is a range.

    Decisions inside block ``i`` are active only when the depth exceeds ``i``. Frozen, a Repeat
    becomes an ``nn.Sequential`` of the chosen number of blocks (keys ``0.``, ``1.``, ...).
    """

    def __init__(
        self,
        factory: Callable[[int], nn.Module] | nn.Module,
        depth: int | range | Categorical,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        self._depth_decision: Categorical | None = None
        if isinstance(depth, bool):
            raise SpaceDefinitionError(f"Repeat depth must be an int, a range or a choice, got {depth!r}")
        if isinstance(depth, int):
            depths = [depth]
        elif isinstance(depth, range):
            depths = list(depth)
        elif isinstance(depth, Categorical):
            depths = list(depth.values)
            self._depth_decision = depth
        elif isinstance(depth, ValueExpr):
            raise SpaceDefinitionError(
                f"Repeat depth {depth!r} is an expression; give a choice of depths directly"
            )
        else:
            raise SpaceDefinitionError(f"Repeat depth must be an int, a range or a choice, got {depth!r}")
        if not depths or any(not isinstance(d, int) or isinstance(d, bool) or d < 0 for d in depths):
            raise SpaceDefinitionError(f"Repeat depths must be non-negative ints, got {depths!r}")
        self.depths = depths
        for i in range(max(depths)):
            block = _fresh_copy(factory) if isinstance(factory, nn.Module) else factory(i)
            if not isinstance(block, nn.Module):
                raise SpaceDefinitionError(f"Repeat factory returned {type(block).__name__} for block {i}, not an nn.Module")
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
