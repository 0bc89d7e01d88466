"""LayerChoice and InputChoice: choosing among modules, and among a forward pass's inputs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from archspace.errors import SpaceDefinitionError
from archspace.nn.mutable import Branch, FreezeChild, Mutable, Resolver
from archspace.space.decisions import Categorical

REDUCTIONS = ("sum", "mean", "concat", "none")


class LayerChoice(Mutable):
    """Choose one module among candidates.

    Args:
        candidates: a list of modules (sample values are the indices) or a mapping from name to
            module (sample values are the names; names must be valid module attribute names).
        label: the decision's label; by default the module path (e.g. ``"blocks.0.op"``).

    Frozen, the LayerChoice is replaced by the chosen candidate itself, so the frozen model's
    ``state_dict`` keys are those of the candidate at this position.

    Example:
        >>> import torch.nn as nn, archspace as asp
        >>> op = asp.LayerChoice({"relu": nn.ReLU(), "tanh": nn.Tanh()}, label="act")
        >>> op.decisions("act")
        [Categorical(['relu', 'tanh'], label='act')]
    """

    def __init__(
        self, candidates: Sequence[nn.Module] | Mapping[str, nn.Module], label: str | None = None
    ) -> None:
        super().__init__(label)
        where = f"LayerChoice {label!r}" if label else "LayerChoice"
        if isinstance(candidates, Mapping):
            items = list(candidates.items())
            for name, _ in items:
                if not isinstance(name, str) or not name or "." in name:
                    raise SpaceDefinitionError(
                        f"{where}: candidate name {name!r} must be a non-empty string without '.'"
                    )
            self._values: list[Any] = [name for name, _ in items]
        elif isinstance(candidates, Sequence) and not isinstance(candidates, str):
            items = [(str(i), m) for i, m in enumerate(candidates)]
            self._values = list(range(len(items)))
        else:
            raise SpaceDefinitionError(f"{where}: candidates must be a list or a dict of modules, got {candidates!r}")
        if not items:
            raise SpaceDefinitionError(f"{where} has no candidates; give at least one module")
        for name, module in items:
            if not isinstance(module, nn.Module):
                raise SpaceDefinitionError(
                    f"{where}: candidate {name!r} is a {type(module).__name__}, not an nn.Module"
                )
            self.add_module(name, module)

    @property
    def candidate_names(self) -> list[Any]:
        """The sample values, one per candidate."""
        return list(self._values)

    def candidate(self, value: Any) -> nn.Module:
        """The candidate module for sample value ``value``."""
        module = self._modules[str(value)]
        assert module is not None
        return module

    def decisions(self, label: str) -> list[Categorical]:
        return [Categorical(self._values, label, origin=label)]

    def branches(self, label: str) -> Iterator[Branch]:
        for value in self._values:
            yield str(value), self.candidate(value), [(label, [value])]

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        chosen = resolver.value(self.decisions(label)[0], label)
        return freeze_child(str(chosen), self.candidate(chosen))


class InputChoice(Mutable):
    """Choose ``n_chosen`` of the ``n_candidates`` tensors given to ``forward`` and reduce them.

    Sample values are an index when ``n_chosen == 1`` and a sorted list of distinct indices
    otherwise. Reductions: ``"sum"``, ``"mean"``, ``"concat"`` (along dim 1) or ``"none"`` (the
    list of chosen tensors).
    """

    def __init__(
        self, n_candidates: int, n_chosen: int = 1, reduction: str = "sum", label: str | None = None
    ) -> None:
        super().__init__(label)
        where = f"InputChoice {label!r}" if label else "InputChoice"
        if not isinstance(n_candidates, int) or n_candidates < 1:
            raise SpaceDefinitionError(f"{where}: n_candidates must be a positive int, got {n_candidates!r}")
        if not isinstance(n_chosen, int) or not 1 <= n_chosen <= n_candidates:
            raise SpaceDefinitionError(
                f"{where}: n_chosen must be an int from 1 to n_candidates={n_candidates}, got {n_chosen!r}"
            )
        if reduction not in REDUCTIONS:
            raise SpaceDefinitionError(f"{where}: reduction {reduction!r} is not one of {list(REDUCTIONS)}")
        self.n_candidates = n_candidates
        self.n_chosen = n_chosen
        self.reduction = reduction

    def values(self) -> list[Any]:
        """Every possible sample value."""
        if self.n_chosen == 1:
            return list(range(self.n_candidates))
        return [list(c) for c in itertools.combinations(range(self.n_candidates), self.n_chosen)]

    def decisions(self, label: str) -> list[Categorical]:
        return [Categorical(self.values(), label, origin=label)]

    def branches(self, label: str) -> Iterator[Branch]:
        return iter(())

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        chosen = resolver.value(self.decisions(label)[0], label)
        return ChosenInputs(chosen if isinstance(chosen, list) else [chosen], self.reduction, self.n_candidates)

    def extra_repr(self) -> str:
        return f"n_candidates={self.n_candidates}, n_chosen={self.n_chosen}, reduction={self.reduction!r}"


def reduce_tensors(tensors: list[torch.Tensor], reduction: str) -> Any:
    """Combine tensors as an InputChoice does."""
    if reduction == "none":
        return tensors
    if len(tensors) == 1:
        return tensors[0]
    if reduction == "concat":
        return torch.cat(tensors, dim=1)
    total = torch.stack(tensors).sum(0)
    return total / len(tensors) if reduction == "mean" else total


class ChosenInputs(nn.Module):
    """A frozen InputChoice: picks the chosen inputs and reduces them. Holds no decision."""

    def __init__(self, chosen: list[int], reduction: str, n_candidates: int) -> None:
        super().__init__()
        self.chosen = list(chosen)
        self.reduction = reduction
        self.n_candidates = n_candidates

    def forward(self, inputs: Sequence[torch.Tensor]) -> Any:
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice expects {self.n_candidates} inputs, got {len(inputs)}")
        return reduce_tensors([inputs[i] for i in self.chosen], self.reduction)

    def extra_repr(self) -> str:
        return f"chosen={self.chosen}, reduction={self.reduction!r}"


__all__ = ["ChosenInputs", "InputChoice", "LayerChoice", "reduce_tensors"]
