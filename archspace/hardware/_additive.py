"""``fixed + sum of active units`` in a few dict lookups, and the covering of every (unit, key)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from archspace.hardware._units import Condition, Key, UnitDef, hkey

#: A group table larger than this is not tabulated; its units are summed one by one instead.
GROUP_CAP = 4096


def add_all(items: Sequence[Sequence[Any]]) -> Any:
    return tuple(sum(column) for column in zip(*items)) if items else ()


class Additive:
    """``fixed + sum of active units`` in a few dict lookups.

    Units that read the same labels form a group; each group is tabulated over every combination
    of its labels' values (with ``None`` for an inactive label), so a sample costs one lookup per
    group. Groups with more than :data:`GROUP_CAP` combinations are summed unit by unit.
    """

    def __init__(self, units: Mapping[str, UnitDef], entries: Mapping[Key, Sequence[float]],
                 fixed: Sequence[float], domains: Mapping[str, Sequence[Any]]) -> None:
        self.units, self.entries, self.fixed = units, entries, tuple(fixed)
        width = len(self.fixed)
        groups: dict[tuple[str, ...], list[UnitDef]] = {}
        for unit in units.values():
            groups.setdefault(unit.labels, []).append(unit)
        self.tables: list[tuple[tuple[str, ...], dict[tuple[Any, ...], tuple[float, ...] | None]]] = []
        self.loose: list[UnitDef] = []
        constant: list[Sequence[float]] = [self.fixed]
        for labels, members in groups.items():
            combos = 1
            for label in labels:
                combos *= len(domains[label]) + 1
            if combos > GROUP_CAP:
                self.loose += members
                continue
            table: dict[tuple[Any, ...], tuple[float, ...] | None] = {}
            for combo in itertools.product(*[[hkey(v) for v in domains[lab]] + [None] for lab in labels]):
                values = dict(zip(labels, combo))
                parts: list[Sequence[float]] = []
                for unit in members:
                    if unit.active(values):
                        entry = entries.get(unit.key(values))
                        if entry is None:
                            parts = [()]
                            break
                        parts.append(entry)
                if parts == [()]:
                    table[combo] = None
                else:
                    table[combo] = add_all(parts) if parts else (0,) * width
            if not labels:
                value = table[()]
                constant.append(value if value is not None else (float("nan"),) * width)
            else:
                self.tables.append((labels, table))
        self.constant = add_all(constant)

    def total(self, values: Mapping[str, Any]) -> tuple[float, ...] | None:
        """The sum for a sample given as hashed values; None when a needed entry was never measured."""
        parts = [self.constant]
        for labels, table in self.tables:
            entry = table.get(tuple(values.get(label) for label in labels))
            if entry is None:
                return None
            parts.append(entry)
        for unit in self.loose:
            if unit.active(values):
                loose = self.entries.get(unit.key(values))
                if loose is None:
                    return None
                parts.append(loose)
        return add_all(parts)


def needed(units: Mapping[str, UnitDef], domains: Mapping[str, Sequence[Any]]) -> Iterator[tuple[Key, dict[str, Any]]]:
    """Every (unit, key) to cover, with an assignment of labels that activates it."""
    for unit in units.values():
        for combo in itertools.product(*[domains[label] for label in unit.key_labels]):
            assign: dict[str, Any] = dict(zip(unit.key_labels, combo))
            feasible = True
            for label, allowed in unit.requires:
                if label in assign:
                    feasible = feasible and hkey(assign[label]) in {hkey(v) for v in allowed}
                else:
                    assign[label] = allowed[0]
            if not feasible:
                continue
            if not unit.bits:
                yield (unit.uid, tuple(hkey(v) for v in combo)), assign
                continue
            for mask in itertools.product((True, False), repeat=len(unit.bits)):
                reading = _reading(unit.bits, mask, assign, domains)
                if reading is not None:
                    yield (unit.uid, tuple(hkey(v) for v in combo) + mask), reading


def _reading(outputs: Sequence[Condition], mask: Sequence[bool], assign: Mapping[str, Any],
             domains: Mapping[str, Sequence[Any]]) -> dict[str, Any] | None:
    """An assignment (extending ``assign``) under which exactly the outputs ``mask`` marks are
    read, found greedily; None when none was found (e.g. no term could read anything else)."""
    labels = dict.fromkeys(label for alternatives in outputs for label, _ in alternatives)
    options = {label: [v for v in domains[label] if label not in assign or hkey(v) == hkey(assign[label])]
               for label in labels}
    for alternatives, read in zip(outputs, mask):
        if not read:  # no alternative may hold
            for label, allowed in alternatives:
                options[label] = [v for v in options[label] if hkey(v) not in {hkey(a) for a in allowed}]
    chosen: dict[str, Any] = {}
    for alternatives, read in zip(outputs, mask):
        if not read or any(chosen.get(label, _UNSET) in {hkey(a) for a in allowed} for label, allowed in alternatives):
            continue
        for label, allowed in alternatives:
            fits = [v for v in options[label] if hkey(v) in {hkey(a) for a in allowed}]
            if label not in chosen and fits:
                chosen[label] = hkey(fits[0])
                break
        else:
            return None
    out = dict(assign)
    for label in labels:
        if label in chosen:
            out[label] = next(v for v in options[label] if hkey(v) == chosen[label])
        elif options[label]:
            out[label] = options[label][0]
        else:
            return None
    return out


_UNSET = object()


__all__ = ["GROUP_CAP", "Additive", "add_all", "needed"]
