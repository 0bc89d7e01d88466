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
from archspace.space.labels import skip_label

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

    Args:
        n_candidates: how many tensors ``forward`` receives (a list).
        n_chosen: how many of them to use; ``None`` (NNI's spelling) lets the search use any
            subset, the empty one included: NNI's optional skip connections.
        reduction: ``"sum"``, ``"mean"``, ``"concat"`` (along dim 1) or ``"none"`` (the list of
            chosen tensors).
        label: the decision's label; by default the module path.

    Sample values: with ``n_chosen == 1`` an index, with ``n_chosen > 1`` a sorted list of distinct
    indices (one decision labelled ``label``). With ``n_chosen=None`` every candidate ``j`` has a
    decision of its own, ``{label}/skip_{j}`` with values ``0`` (left out) and ``1`` (taken) —
    NNI's "categorical format" of an any-subset choice, in archspace's skip-connection label format
    (:func:`~archspace.space.skip_label`). One decision per candidate rather than one over the
    2^n subsets: every strategy searches each input on its own, a one-shot supernet gives each
    input an independent gate, and ENAS's skip penalty applies to them as NNI's ENAS applied it
    to every any-subset InputChoice.

    The empty subset reduces to what an empty sum is: zeros shaped like the first input for
    ``"sum"`` and ``"mean"``, a zero-channel tensor for ``"concat"``, ``[]`` for ``"none"``. NNI
    returns ``None`` there; zeros let ``out + skip(prevs)`` run whatever was chosen, and code
    ported from NNI (``if s is not None: out = out + s``) computes the same. The default sample
    (every decision's first value) takes no input.

    Example:
        >>> import archspace as asp
        >>> skips = asp.InputChoice(3, n_chosen=None, label="skip")
        >>> [d.label for d in skips.decisions("skip")]
        ['skip/skip_0', 'skip/skip_1', 'skip/skip_2']
    """

    def __init__(
        self, n_candidates: int, n_chosen: int | None = 1, reduction: str = "sum", label: str | None = None
    ) -> None:
        super().__init__(label)
        where = f"InputChoice {label!r}" if label else "InputChoice"
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 1:
            raise SpaceDefinitionError(f"{where}: n_candidates must be a positive int, got {n_candidates!r}")
        if n_chosen is not None and (
            isinstance(n_chosen, bool) or not isinstance(n_chosen, int) or not 1 <= n_chosen <= n_candidates
        ):
            raise SpaceDefinitionError(
                f"{where}: n_chosen must be an int from 1 to n_candidates={n_candidates}, or None for any "
                f"subset, got {n_chosen!r}"
            )
        if reduction not in REDUCTIONS:
            raise SpaceDefinitionError(f"{where}: reduction {reduction!r} is not one of {list(REDUCTIONS)}")
        self.n_candidates = n_candidates
        self.n_chosen = n_chosen
        self.reduction = reduction

    @property
    def any_subset(self) -> bool:
        """Whether any subset of the inputs may be chosen (``n_chosen=None``)."""
        return self.n_chosen is None

    def values(self) -> list[Any]:
        """Every possible choice: indices (``n_chosen == 1``) or sorted lists of indices.

        With ``n_chosen=None`` these are the subsets (the empty one first), though the space holds
        them as one 0/1 decision per candidate (:meth:`decisions`).
        """
        if self.n_chosen == 1:
            return list(range(self.n_candidates))
        sizes = range(self.n_candidates + 1) if self.n_chosen is None else [self.n_chosen]
        return [list(c) for k in sizes for c in itertools.combinations(range(self.n_candidates), k)]

    def decisions(self, label: str) -> list[Categorical]:
        if self.n_chosen is None:
            return [Categorical([0, 1], skip_label(label, j), origin=label) for j in range(self.n_candidates)]
        return [Categorical(self.values(), label, origin=label)]

    def branches(self, label: str) -> Iterator[Branch]:
        return iter(())

    def chosen(self, label: str, resolver: Resolver) -> list[int]:
        """The indices of the inputs the resolver's sample chooses, in order."""
        decisions = self.decisions(label)
        if self.n_chosen is None:
            return [j for j, gate in enumerate(decisions) if resolver.value(gate, label) == 1]
        value = resolver.value(decisions[0], label)
        return value if isinstance(value, list) else [value]

    def freeze_with(self, label: str, resolver: Resolver, freeze_child: FreezeChild) -> nn.Module:
        return ChosenInputs(self.chosen(label, resolver), self.reduction, self.n_candidates)

    def extra_repr(self) -> str:
        return f"n_candidates={self.n_candidates}, n_chosen={self.n_chosen}, reduction={self.reduction!r}"


def reduce_tensors(tensors: list[torch.Tensor], reduction: str) -> Any:
    """Combine tensors as an InputChoice does (at least one tensor; see :func:`empty_reduction`)."""
    if reduction == "none":
        return tensors
    if len(tensors) == 1:
        return tensors[0]
    if reduction == "concat":
        return torch.cat(tensors, dim=1)
    total = torch.stack(tensors).sum(0)
    return total / len(tensors) if reduction == "mean" else total


def empty_reduction(inputs: Sequence[torch.Tensor], reduction: str) -> Any:
    """What an InputChoice that chose none of ``inputs`` returns: the empty sum.

    Zeros shaped like the first input (``"sum"``, ``"mean"``), a tensor with no channels
    (``"concat"``, the concatenation of nothing along dim 1), or ``[]`` (``"none"``).
    """
    if reduction == "none":
        return []
    first = inputs[0]
    if reduction == "concat":
        return first.new_zeros((first.shape[0], 0, *first.shape[2:]))
    return torch.zeros_like(first)


class ChosenInputs(nn.Module):
    """A frozen InputChoice: picks the chosen inputs (possibly none) and reduces them. Holds no decision."""

    def __init__(self, chosen: list[int], reduction: str, n_candidates: int) -> None:
        super().__init__()
        self.chosen = list(chosen)
        self.reduction = reduction
        self.n_candidates = n_candidates

    def forward(self, inputs: Sequence[torch.Tensor]) -> Any:
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice expects {self.n_candidates} inputs, got {len(inputs)}")
        if not self.chosen:
            return empty_reduction(inputs, self.reduction)
        return reduce_tensors([inputs[i] for i in self.chosen], self.reduction)

    def extra_repr(self) -> str:
        return f"chosen={self.chosen}, reduction={self.reduction!r}"


__all__ = ["ChosenInputs", "InputChoice", "LayerChoice", "empty_reduction", "reduce_tensors"]
