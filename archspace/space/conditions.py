"""When a nested decision is active.

A decision inside a LayerChoice candidate matters only when that candidate is chosen; a decision
inside the third block of a Repeat matters only when the depth is at least three. A
:class:`Condition` records this as a disjunction of conjunctions ("(op is conv and depth >= 2) or
...") over the values of other decisions. Disjunctions arise when one label is used in several
places: the decision is active whenever any of its uses is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archspace.space.decisions import value_key

# One requirement: the label's value must be one of these canonical value keys.
Requirement = tuple[str, frozenset[str]]
Clause = frozenset[Requirement]


class Condition:
    """A disjunction of clauses; each clause requires some labels to take some values.

    ``Condition.always()`` holds one empty clause; a decision used both unconditionally and
    conditionally is simply always active.
    """

    __slots__ = ("clauses",)

    def __init__(self, clauses: Iterable[Clause]) -> None:
        unique = frozenset(clauses)
        if frozenset() in unique:
            unique = frozenset({frozenset()})
        self.clauses: frozenset[Clause] = unique

    @classmethod
    def always(cls) -> Condition:
        """The condition that always holds."""
        return cls([frozenset()])

    @property
    def is_always(self) -> bool:
        """True when the decision is active in every sample."""
        return frozenset() in self.clauses

    def labels(self) -> set[str]:
        """The labels whose values this condition reads."""
        return {label for clause in self.clauses for label, _ in clause}

    def require(self, label: str, values: Iterable[Any]) -> Condition:
        """This condition, with ``label`` additionally required to take one of ``values``."""
        keys = frozenset(value_key(v) for v in values)
        return Condition(clause | {(label, keys)} for clause in self.clauses)

    def union(self, other: Condition) -> Condition:
        """Active when either condition holds."""
        return Condition(self.clauses | other.clauses)

    def holds(self, sample: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``sample`` (a missing label never satisfies it)."""
        for clause in self.clauses:
            if all(label in sample and value_key(sample[label]) in keys for label, keys in clause):
                return True
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and self.clauses == other.clauses

    def __hash__(self) -> int:
        return hash(self.clauses)

    def __repr__(self) -> str:
        if self.is_always:
            return "always"
        parts = []
        for clause in sorted(self.clauses, key=lambda c: sorted(c)):
            reqs = [f"{label} in {{{', '.join(sorted(keys))}}}" for label, keys in sorted(clause)]
            parts.append(" and ".join(reqs))
        return " or ".join(f"({p})" for p in parts)


__all__ = ["Condition"]
