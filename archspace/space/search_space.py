"""SearchSpace: the ordered, labelled decisions of a model space, with their conditions.

This is what strategies see: pure data, no torch. Decisions are kept in an order where every
decision comes after the decisions its condition reads, so walking them front to back (to sample,
enumerate or validate) always knows whether the next one is active.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterator, Mapping
from typing import Any

from archspace.errors import MissingLabelError, SpaceDefinitionError, UnknownLabelError, short_repr
from archspace.space.conditions import Condition
from archspace.space.decisions import Categorical
from archspace.space.samples import Sample, check_sample_shape

_COUNT_LIMIT = 2_000_000  # assignments of controlling decisions explored when counting a space


class SearchSpace(Mapping[str, Categorical]):
    """An ordered mapping label -> decision, each with the :class:`Condition` that activates it.

    Args:
        decisions: label -> decision.
        conditions: label -> condition; labels left out are always active.
    """

    def __init__(
        self,
        decisions: Mapping[str, Categorical],
        conditions: Mapping[str, Condition] | None = None,
    ) -> None:
        conditions = dict(conditions or {})
        for label, decision in decisions.items():
            if decision.label != label:
                raise SpaceDefinitionError(f"decision {decision!r} is filed under label {label!r}")
        unknown = {lab for cond in conditions.values() for lab in cond.labels()} - set(decisions)
        if unknown:
            raise SpaceDefinitionError(f"conditions refer to labels {sorted(unknown)} that have no decision")
        self._conditions = {label: conditions.get(label, Condition.always()) for label in decisions}
        self._decisions = {label: decisions[label] for label in self._topological_order(decisions)}

    def _topological_order(self, decisions: Mapping[str, Categorical]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done

        def visit(label: str, chain: list[str]) -> None:
            if state.get(label) == 2:
                return
            if state.get(label) == 1:
                raise SpaceDefinitionError(f"decisions are nested in a cycle: {' -> '.join(chain + [label])}")
            state[label] = 1
            for parent in sorted(self._conditions[label].labels()):
                visit(parent, chain + [label])
            state[label] = 2
            order.append(label)

        for label in decisions:
            visit(label, [])
        return order

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, label: str) -> Categorical:
        return self._decisions[label]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decisions)

    def __len__(self) -> int:
        return len(self._decisions)

    def __repr__(self) -> str:
        lines = []
        for label, decision in self._decisions.items():
            cond = self._conditions[label]
            when = "" if cond.is_always else f"  when {cond!r}"
            lines.append(f"  {label!r}: {list(decision.values)!r}{when}")
        return "SearchSpace(\n" + "\n".join(lines) + "\n)" if lines else "SearchSpace()"

    def __eq__(self, other: object) -> bool:
        """Equal spaces: the same labels in the same order, each with the same candidates and condition.

        Written out because decisions' ``==`` builds expressions (see :class:`Categorical`).
        """
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return (
            list(self._decisions) == list(other._decisions)
            and all(d.same_as(other._decisions[label]) for label, d in self._decisions.items())
            and self._conditions == other._conditions
        )

    __hash__ = None  # type: ignore[assignment]

    # Conditions -------------------------------------------------------------------------------
    def condition(self, label: str) -> Condition:
        """The condition under which ``label`` is active."""
        if label not in self._decisions:
            raise self.unknown_label(label)
        return self._conditions[label]

    def is_active(self, label: str, sample: Mapping[str, Any]) -> bool:
        """Whether ``label`` is active given the values ``sample`` holds for its parents."""
        return self.condition(label).holds(sample)

    def active_labels(self, sample: Mapping[str, Any]) -> list[str]:
        """The labels active under ``sample``, in space order."""
        return [label for label in self._decisions if self._conditions[label].holds(sample)]

    @property
    def is_conditional(self) -> bool:
        """True when some decision is active only in part of the space."""
        return any(not c.is_always for c in self._conditions.values())

    # Samples ------------------------------------------------------------------------------------
    def random_sample(self, seed: int | random.Random | None = None) -> Sample:
        """A uniformly chosen value for every active decision (inactive ones are left out)."""
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        sample: Sample = {}
        for label, decision in self._decisions.items():
            if self._conditions[label].holds(sample):
                sample[label] = copy.deepcopy(rng.choice(decision.values))
        return sample

    def default_sample(self) -> Sample:
        """The first candidate of every active decision."""
        sample: Sample = {}
        for label, decision in self._decisions.items():
            if self._conditions[label].holds(sample):
                sample[label] = copy.deepcopy(decision.default)
        return sample

    def validate(self, sample: Mapping[str, Any]) -> Sample:
        """Check ``sample`` against the space and return it normalised.

        The returned copy holds exactly the active decisions (labels of inactive decisions are
        accepted and dropped, since a parent's choice made them irrelevant).

        Raises:
            SampleError: ``sample`` is not a dict of string labels to JSON values.
            UnknownLabelError: a label the space does not have.
            MissingLabelError: an active decision without a value.
            InvalidValueError: a value that is not among the decision's candidates.
        """
        sample = check_sample_shape(sample)
        for label in sample:
            if label not in self._decisions:
                raise self.unknown_label(label)
        out: Sample = {}
        for label, decision in self._decisions.items():
            if not self._conditions[label].holds(out):
                continue
            if label not in sample:
                raise MissingLabelError(
                    f"the sample has no value for active label {short_repr(label)} "
                    f"(allowed values: {short_repr(list(decision.values), 400)})"
                )
            out[label] = decision.check(sample[label])
        return out

    def contains(self, sample: Mapping[str, Any]) -> bool:
        """Whether ``sample`` is a valid, normalised point of this space."""
        try:
            return self.validate(sample) == dict(sample)
        except Exception:
            return False

    def enumerate(self) -> Iterator[Sample]:
        """Every normalised sample exactly once, in a fixed order (inactive decisions skipped)."""
        labels = list(self._decisions)

        def walk(index: int, partial: Sample) -> Iterator[Sample]:
            if index == len(labels):
                yield copy.deepcopy(partial)
                return
            label = labels[index]
            if not self._conditions[label].holds(partial):
                yield from walk(index + 1, partial)
                return
            for value in self._decisions[label].values:
                partial[label] = value
                yield from walk(index + 1, partial)
            del partial[label]

        return walk(0, {})

    def unknown_label(self, label: str) -> UnknownLabelError:
        """The error for ``label`` not being a decision of this space (it lists the labels)."""
        known = list(self._decisions)
        shown = known if len(known) <= 20 else known[:20] + ["..."]
        return UnknownLabelError(f"unknown label {short_repr(label)}; the space's labels are {short_repr(shown, 400)}")

    # Size ---------------------------------------------------------------------------------------
    def size(self) -> int:
        """The number of distinct (normalised) samples.

        For a space without conditions this is the product of the candidate counts. Otherwise the
        decisions that other decisions' conditions read (the "controllers", usually few: a Repeat
        depth, a LayerChoice with nested choices) are enumerated, and each of their assignments
        contributes the product of the candidate counts of the decisions it activates.
        """
        controllers = [lab for lab in self._decisions if any(lab in c.labels() for c in self._conditions.values())]
        others = [lab for lab in self._decisions if lab not in set(controllers)]
        if not controllers:
            return math.prod(len(d) for d in self._decisions.values())
        if math.prod(len(self._decisions[c]) for c in controllers) > _COUNT_LIMIT:
            raise SpaceDefinitionError(
                f"cannot count this space: its {len(controllers)} controlling decisions "
                f"({controllers[:5]}...) have too many joint assignments"
            )

        def count(index: int, partial: Sample) -> int:
            if index == len(controllers):
                return math.prod(
                    len(self._decisions[lab]) for lab in others if self._conditions[lab].holds(partial)
                )
            label = controllers[index]
            if not self._conditions[label].holds(partial):
                return count(index + 1, partial)
            total = 0
            for value in self._decisions[label].values:
                partial[label] = value
                total += count(index + 1, partial)
            del partial[label]
            return total

        return count(0, {})


__all__ = ["SearchSpace"]
