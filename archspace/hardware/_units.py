"""Units: the parts of a model space whose costs add up (see :mod:`archspace.hardware._decompose`).

A unit is a branch of a decision-carrying module (a LayerChoice candidate, a Repeat block, a
Cell edge op, a Cell's preprocessor) or a mutable layer, with the requirements under which it is
active and the labels its own cost depends on.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from torch import nn

from archspace.errors import InvalidValueError, MissingLabelError, UnknownLabelError, short_repr
from archspace.nn.layers import MutableLayer
from archspace.nn.mutable import Mutable, Resolver
from archspace.nn.walk import attribute_choices as _attribute_choices
from archspace.nn.walk import join

Key = tuple[str, tuple[Any, ...]]  # (unit id, values of its key labels)
#: The id of the pseudo-unit holding the fixed part (always active; keyed by the shape labels, if any).
FIXED = "<fixed>"


def hkey(value: Any) -> Any:
    """A hashable form of a decision value (lists become tuples)."""
    return tuple(hkey(v) for v in value) if isinstance(value, (list, tuple)) else value


Condition = tuple[tuple[str, tuple[Any, ...]], ...]  # AND (requires) or OR (outputs) of (label, allowed values)


@dataclass(frozen=True)
class UnitDef:
    """One unit: where it sits, when it is active, and which labels its own cost depends on.

    ``outputs`` is set for a unit whose outputs are read selectively (a Cell's preprocessor: its
    output ``i`` is read only when some term takes state ``i``): per output, the (label, values)
    alternatives under which it is read. Such a unit's key ends with one bool per output, since a
    graph compiler drops an unread output's computation (see :meth:`Mutable.branch_outputs`).
    """

    uid: str
    requires: Condition  # AND of (label, allowed values)
    key_labels: tuple[str, ...]
    parent: str | None
    outputs: tuple[Condition, ...] = ()
    #: The outermost decision-carrying module holding the unit (its own path if none): the
    #: granularity at which a graph compiler's dead-code elimination is modelled.
    box: str = ""
    #: Conditions (each an OR of (label, values)) whose truth values key the unit's cost, e.g.
    #: which nodes of a cell no later node reads, for the merge of its loose ends.
    flags: tuple[Condition, ...] = ()
    #: The module path of the decision the unit is a branch of (``stem`` for the candidate
    #: ``stem.k5``): what a person looks for in the model; "" for the unit's own path (a mutable
    #: layer, a plain module keeping choices, or a table written before this field existed).
    site: str = ""

    @property
    def place(self) -> str:
        """Where the unit sits, for people: the deciding module's path (see :attr:`site`)."""
        return self.site or self.uid

    @property
    def bits(self) -> tuple[Condition, ...]:
        """The conditions ending the unit's key: its outputs' reads, then its flags."""
        return self.outputs + self.flags

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label this unit's presence or cost reads, in first-mention order."""
        read = [label for label, _ in self.requires] + list(self.key_labels)
        read += [label for alternatives in self.bits for label, _ in alternatives]
        return tuple(dict.fromkeys(read))

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether the unit is in the network of a sample given as hashed values."""
        return all(values.get(label) in {hkey(v) for v in allowed} for label, allowed in self.requires)

    def live(self, values: Mapping[str, Any]) -> tuple[bool, ...]:
        """Which of the unit's outputs the sample reads (empty for a unit without ``outputs``)."""
        return tuple(any(values.get(label) in {hkey(v) for v in allowed} for label, allowed in alternatives)
                     for alternatives in self.outputs)

    def key(self, values: Mapping[str, Any]) -> Key:
        flags = tuple(any(values.get(label) in {hkey(v) for v in allowed} for label, allowed in alternatives)
                      for alternatives in self.flags)
        return self.uid, tuple(values.get(label) for label in self.key_labels) + self.live(values) + flags

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uid": self.uid, "requires": [[label, list(allowed)] for label, allowed in self.requires],
               "key_labels": list(self.key_labels), "parent": self.parent}
        if self.box and self.box != self.uid:
            out["box"] = self.box
        if self.outputs:
            out["outputs"] = [[[label, list(allowed)] for label, allowed in alt] for alt in self.outputs]
        if self.flags:
            out["flags"] = [[[label, list(allowed)] for label, allowed in alt] for alt in self.flags]
        if self.site and self.site != self.uid:
            out["site"] = self.site
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnitDef:
        outputs = tuple(tuple((label, tuple(allowed)) for label, allowed in alt) for alt in data.get("outputs", []))
        flags = tuple(tuple((label, tuple(allowed)) for label, allowed in alt) for alt in data.get("flags", []))
        return cls(data["uid"], tuple((label, tuple(allowed)) for label, allowed in data["requires"]),
                   tuple(data["key_labels"]), data["parent"], outputs, data.get("box", data["uid"]), flags,
                   str(data.get("site", "")) or _candidate_site(str(data["uid"]), data["requires"]))

    def describe(self, key: tuple[Any, ...]) -> str:
        """The unit under ``key`` as a person reads it: where it sits, then ``label=value`` for the
        decisions that make it active and those its cost is keyed by (``stem  stem_op=k5``), then
        the outputs read and flags that end the key."""
        terms: dict[str, str] = {}
        for label, allowed in self.requires:
            terms[label] = f"{label}={_show(allowed[0])}" if len(allowed) == 1 else \
                f"{label} in {[_show(v) for v in allowed]}"
        for label, value in zip(self.key_labels, key):
            terms[label] = f"{label}={_show(value)}"
        rest = key[len(self.key_labels):]
        if self.outputs:
            terms["<reads>"] = "reads outputs " + str([i for i, read in enumerate(rest[:len(self.outputs)]) if read])
        if self.flags:
            terms["<flags>"] = "flags " + "".join("1" if f else "0" for f in rest[len(self.outputs):])
        return "  ".join([self.place] + [" ".join(terms.values())] if terms else [self.place])


def _candidate_site(uid: str, requires: Sequence[Sequence[Any]]) -> str:
    """For a table written before units recorded their :attr:`UnitDef.site`: the LayerChoice a
    candidate unit belongs to (``stem`` for ``stem.k5``, which requires its label to be ``k5``);
    "" (its own path) for any other unit."""
    if requires:
        allowed = list(requires[-1][1])
        suffix = "." + str(allowed[0]) if len(allowed) == 1 else None
        if suffix and uid.endswith(suffix) and len(uid) > len(suffix):
            return uid[: -len(suffix)]
    return ""


def _show(value: Any) -> str:
    """A decision value as written in a sample (strings bare, lists as lists)."""
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return value if isinstance(value, str) else repr(value)


def find_units(root: nn.Module, shape_labels: Sequence[str] = ()) -> dict[str, UnitDef]:
    """The units of a space's module tree, walked as :func:`archspace.nn.walk.collect_space` walks it.

    With ``shape_labels``, every unit and the fixed part are keyed by them too (for spaces where
    a value choice changes the inputs of plain modules downstream).
    """
    units: dict[str, UnitDef] = {}

    def add(path: str, requires: Condition, labels: Sequence[str], parent: str | None, box: str | None,
            outputs: tuple[Condition, ...] = (), flags: tuple[Condition, ...] = (), site: str = "") -> str:
        known = units.get(path)
        merged = tuple(dict.fromkeys((known.key_labels if known else ()) + tuple(labels)))
        units[path] = UnitDef(path, requires, merged, known.parent if known else parent,
                              outputs or (known.outputs if known else ()), known.box if known else (box or path),
                              flags or (known.flags if known else ()), known.site if known else site)
        return path

    def conditions(raw: Sequence[Sequence[tuple[str, Sequence[Any]]]]) -> tuple[Condition, ...]:
        return tuple(tuple((lab, tuple(vals)) for lab, vals in alternatives) for alternatives in raw)

    def walk(module: nn.Module, path: str, requires: tuple[tuple[str, tuple[Any, ...]], ...],
             parent: str | None, box: str | None) -> None:
        if isinstance(module, Mutable):
            label = module.label or path
            selective, flagged = module.branch_outputs(label), module.branch_flags(label)
            box = box or path
            for suffix, child, reqs in module.branches(label):
                inner = requires + tuple((lab, tuple(vals)) for lab, vals in reqs)
                child_path = join(path, suffix)
                unit = add(child_path, inner, (), parent, box, conditions(selective.get(suffix, [])),
                           conditions(flagged.get(suffix, [])), path)
                walk(child, child_path, inner, unit, box)
            return
        if isinstance(module, MutableLayer):
            if module.is_mutable:
                add(path, requires, [d.label for d in module.value_decisions()], parent, box)
            return
        own = [leaf.label for leaf in _attribute_choices(module, path)]
        if own:  # a plain module of the user's that keeps choices and reads them in forward
            parent = add(path, requires, own, parent, box)
            box = box or path
        for name, child in module.named_children():
            walk(child, join(path, name), requires, parent, box)

    walk(root, "", (), None, None)
    extra = tuple(shape_labels)
    units = {uid: UnitDef(uid, u.requires, tuple(dict.fromkeys(u.key_labels + extra)), u.parent, u.outputs, u.box,
                          u.flags, u.site) for uid, u in units.items()}
    units[FIXED] = UnitDef(FIXED, (), extra, None, (), FIXED)
    return units


V = TypeVar("V")


def narrow_keys(units: Mapping[str, UnitDef], entries: Mapping[Key, V],
                domains: Mapping[str, Sequence[Any]]) -> tuple[dict[str, UnitDef], dict[Key, V]]:
    """Units keyed only by the labels their figures depend on, and the entries under those keys.

    A space that does not split into units is measured again with every unit keyed by all its
    shape labels (see :func:`find_units`), so a stem before a width choice is keyed by that width
    although nothing of it changes. A key label is dropped from a unit when every value the label
    can take (within the unit's requirements) was recorded under every combination of the other
    key values, with one and the same figure: the entries that stay are those figures, so every
    sum over a sample's units (a prediction) is the same, and the table reads (``latency show``)
    as what each unit depends on. Applied to a table read from a file too, so tables written
    before this keep loading and read the same way; a table already narrow is left as it is.
    """
    keep: dict[str, list[int]] = {}
    out_units = dict(units)
    by_unit: dict[str, dict[tuple[Any, ...], V]] = {}
    for (uid, key), value in entries.items():
        by_unit.setdefault(uid, {})[key] = value
    for uid, unit in units.items():
        keyed = by_unit.get(uid, {})
        kept = list(range(len(unit.key_labels)))
        for index in reversed(range(len(unit.key_labels))):
            label = unit.key_labels[index]
            if keyed and _independent(unit, label, kept.index(index), keyed, domains):
                position = kept.index(index)
                keyed = {key[:position] + key[position + 1:]: value for key, value in keyed.items()}
                kept.remove(index)
        if len(kept) < len(unit.key_labels):
            keep[uid] = kept
            out_units[uid] = replace(unit, key_labels=tuple(unit.key_labels[i] for i in kept))
    out_entries: dict[Key, V] = {}
    for (uid, key), value in entries.items():
        if uid in keep:
            width = len(units[uid].key_labels)
            key = tuple(key[i] for i in keep[uid]) + key[width:]
        out_entries.setdefault((uid, key), value)
    return out_units, out_entries


def _independent(unit: UnitDef, label: str, position: int, keyed: Mapping[tuple[Any, ...], Any],
                 domains: Mapping[str, Sequence[Any]]) -> bool:
    """Whether the entries of ``unit`` (keys whose ``position`` holds ``label``'s value) are the
    same for every value of ``label`` it can take, under every combination of its other keys."""
    possible = {hkey(v) for v in domains.get(label, [])}
    for required, allowed in unit.requires:
        if required == label:
            possible &= {hkey(v) for v in allowed}
    if len(possible) < 2:
        return False
    groups: dict[tuple[Any, ...], dict[Any, Any]] = {}
    for key, value in keyed.items():
        groups.setdefault(key[:position] + key[position + 1:], {})[key[position]] = value
    for group in groups.values():
        if set(group) != possible:
            return False
        first = next(iter(group.values()))
        if any(value != first for value in group.values()):
            return False
    return True


def check_sample(values: Mapping[str, Any], domains: Mapping[str, Sequence[Any]],
                 units: Mapping[str, UnitDef] | None = None) -> None:
    """Refuse a sample (hashed values) that a table without its space cannot price, naming the
    label: one the space does not have (with the closest it has); given ``units`` (when a timing
    was not found), also a value outside a label's values or a label an active unit needs that
    the sample lacks.

    A table read without its space (``latency predict`` without ``--space``) knows the space's
    labels and values only; without this a typo'd label surfaced as a missing timing. Without
    ``units`` only the labels are checked: predicting stays a few dict lookups.

    Raises:
        UnknownLabelError, InvalidValueError, MissingLabelError: the first problem found.
    """
    known = list(domains)
    shown = short_repr(known if len(known) <= 20 else known[:20] + ["..."], 400)
    unknown = [label for label in values if label not in domains]
    if unknown:
        absent = [label for label in known if label not in values]
        meant = [f"{short_repr(label)} (did you mean {close[0]!r}?)"
                 if (close := difflib.get_close_matches(str(label), absent, n=1)) else short_repr(label)
                 for label in unknown]
        raise UnknownLabelError(f"the sample has unknown label(s) {', '.join(meant)}; the table's space has "
                                f"the labels {shown}")
    if units is None:
        return
    for label, value in values.items():
        allowed = [hkey(v) for v in domains[label]]
        if value not in allowed:
            raise InvalidValueError(f"value {short_repr(value)} of label {label!r} is not one of the table's "
                                    f"{short_repr(domains[label], 300)}")
    for unit in units.values():
        if unit.active(values):
            missing = [label for label in unit.labels if label not in values]
            if missing:
                raise MissingLabelError(f"the sample has no value for label {missing[0]!r}, which "
                                        f"{unit.place!r} depends on; the table's space has the labels {shown}")


def freeze_recording(module: nn.Module, path: str, resolver: Resolver, units: Mapping[str, UnitDef],
                     record: dict[str, nn.Module]) -> nn.Module:
    """``freeze_tree`` without touching the space: plain modules holding decisions are shallow-copied.

    ``record`` receives, for every unit path reached, the module it became in the frozen network.
    """
    if isinstance(module, Mutable):
        label = module.label or path

        def child(suffix: str, sub: nn.Module) -> nn.Module:
            new = freeze_recording(sub, join(path, suffix), resolver, units, record)
            record[join(path, suffix)] = new
            return new

        return module.freeze_with(label, resolver, child)
    if isinstance(module, MutableLayer):
        new = module.to_plain(resolver, path)
        if path in units:
            record[path] = new
        return new
    replaced = {}
    for name, sub in module._modules.items():
        if sub is not None:
            new = freeze_recording(sub, join(path, name), resolver, units, record)
            if new is not sub:
                replaced[name] = new
    out = module
    if replaced:
        out = copy.copy(module)
        out._modules = {**module._modules, **replaced}
    if path in units and path:
        record[path] = out
    return out


__all__ = ["FIXED", "Condition", "Key", "UnitDef", "find_units", "check_sample", "freeze_recording", "hkey",
           "narrow_keys"]
