"""Decisions: the labelled dimensions of a search space, and arithmetic on them.

A decision is pure data (a label and its candidate values); it knows nothing about torch. The
value choices that users write with :func:`archspace.choice` are :class:`Categorical` decisions,
and arithmetic on them (``width * 2``, ``width // 4``, ``a + b``) yields an :class:`Expression`
that resolves once a sample gives the decisions their values. Both refuse to act as plain Python
values (``bool``, ``int``, iteration): that mistake would silently freeze one arbitrary branch of
the space, so it raises :class:`~archspace.errors.ChoiceMisuseError` instead.
"""

from __future__ import annotations

import itertools
import json
import operator
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

from archspace.errors import ChoiceMisuseError, InvalidValueError, SpaceDefinitionError

JSONScalar = (str, int, float, bool, type(None))


def value_key(value: Any) -> str:
    """A canonical, hashable key for a decision value.

    Values are JSON data; lists and tuples of the same items get the same key, so a sample that
    went through JSON (where tuples become lists) still matches its decision.
    """
    return json.dumps(value, sort_keys=True)


def is_decision_value(value: Any) -> bool:
    """Whether ``value`` can be a decision's value: JSON scalars (not NaN) and lists of them."""
    if isinstance(value, JSONScalar):
        return not (isinstance(value, float) and value != value)  # NaN is not a usable candidate
    if isinstance(value, (list, tuple)):
        return all(is_decision_value(v) for v in value)
    return False


def _caller_site() -> str:
    """The file:line of the user code that created a decision (outside archspace itself)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("archspace."):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class ValueExpr:
    """Something whose value is decided by a sample: a decision or arithmetic on decisions."""

    def evaluate(self, sample: Mapping[str, Any]) -> Any:
        """The value under ``sample`` (which must give every decision involved a value)."""
        raise NotImplementedError

    def leaves(self) -> list[Categorical]:
        """The distinct decisions this value depends on, in first-use order."""
        raise NotImplementedError

    def possible_values(self) -> list[Any]:
        """Every value this expression can take, sorted where the values allow it."""
        leaves = self.leaves()
        seen: dict[str, Any] = {}
        for combo in itertools.product(*(leaf.values for leaf in leaves)):
            value = self.evaluate({leaf.label: v for leaf, v in zip(leaves, combo)})
            seen.setdefault(value_key(value), value)
        values = list(seen.values())
        try:
            return sorted(values)
        except TypeError:
            return values

    def max(self) -> Any:
        """The largest value this expression can take (used to size shared weights)."""
        return max(self.possible_values())

    # Arithmetic builds expressions. Comparisons are left alone so that decisions stay usable as
    # dictionary keys and in equality tests.
    def _binary(self, other: Any, op: Callable[[Any, Any], Any], symbol: str, swap: bool) -> Expression:
        operands = (other, self) if swap else (self, other)
        return Expression(op, symbol, operands)

    def __add__(self, other: Any) -> Expression:
        return self._binary(other, operator.add, "+", False)

    def __radd__(self, other: Any) -> Expression:
        return self._binary(other, operator.add, "+", True)

    def __sub__(self, other: Any) -> Expression:
        return self._binary(other, operator.sub, "-", False)

    def __rsub__(self, other: Any) -> Expression:
        return self._binary(other, operator.sub, "-", True)

    def __mul__(self, other: Any) -> Expression:
        return self._binary(other, operator.mul, "*", False)

    def __rmul__(self, other: Any) -> Expression:
        return self._binary(other, operator.mul, "*", True)

    def __floordiv__(self, other: Any) -> Expression:
        return self._binary(other, operator.floordiv, "//", False)

    def __rfloordiv__(self, other: Any) -> Expression:
        return self._binary(other, operator.floordiv, "//", True)

    def __truediv__(self, other: Any) -> Expression:
        return self._binary(other, operator.truediv, "/", False)

    def __rtruediv__(self, other: Any) -> Expression:
        return self._binary(other, operator.truediv, "/", True)

    def __mod__(self, other: Any) -> Expression:
        return self._binary(other, operator.mod, "%", False)

    def __rmod__(self, other: Any) -> Expression:
        return self._binary(other, operator.mod, "%", True)

    def __neg__(self) -> Expression:
        return Expression(operator.neg, "-", (self,))

    def _misuse(self, what: str) -> NoReturn:
        raise ChoiceMisuseError(
            f"{self!r} was used as a plain Python {what}, but in a model space it is still "
            "undecided. Feed it to an archspace.nn layer (archspace.nn.Conv2d, Linear, "
            "BatchNorm2d, LayerNorm, ...), to Repeat, or to other choices; it becomes a plain "
            "value only under a sample (space.freeze(sample) or archspace.fixed_arch(sample))."
        )

    def __bool__(self) -> bool:
        self._misuse("truth value")

    def __index__(self) -> int:
        self._misuse("integer")

    def __int__(self) -> int:
        self._misuse("integer")

    def __float__(self) -> float:
        self._misuse("float")

    def __iter__(self) -> NoReturn:
        self._misuse("iterable")

    def __lt__(self, other: Any) -> bool:
        self._misuse("comparison")

    def __le__(self, other: Any) -> bool:
        self._misuse("comparison")

    def __gt__(self, other: Any) -> bool:
        self._misuse("comparison")

    def __ge__(self, other: Any) -> bool:
        self._misuse("comparison")


class Categorical(ValueExpr):
    """A decision among a finite list of JSON values.

    Args:
        values: the candidates, distinct JSON values (numbers, strings, booleans, None, or lists
            of those); the first one is the default.
        label: the decision's name in samples.
        origin: where the decision was written (file:line or module path), for error messages.
    """

    __slots__ = ("values", "label", "origin", "_keys")

    def __init__(self, values: Sequence[Any], label: str, *, origin: str | None = None) -> None:
        if not isinstance(label, str) or not label:
            raise SpaceDefinitionError(f"a decision label must be a non-empty string, got {label!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise SpaceDefinitionError(
                f"decision {label!r}: candidates must be a list of values, got {values!r}"
            )
        values = [list(v) if isinstance(v, tuple) else v for v in values]
        if not values:
            raise SpaceDefinitionError(f"decision {label!r} has no candidates; give at least one")
        keys: list[str] = []
        for v in values:
            if not is_decision_value(v):
                raise SpaceDefinitionError(
                    f"decision {label!r}: candidate {v!r} is not a JSON value; candidates must be "
                    "numbers, strings, booleans, None or lists of those (use LayerChoice for modules)"
                )
            keys.append(value_key(v))
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise SpaceDefinitionError(f"decision {label!r} repeats candidates {dupes}; they must be distinct")
        self.values: tuple[Any, ...] = tuple(values)
        self.label = label
        self.origin = origin if origin is not None else _caller_site()
        self._keys = frozenset(keys)

    @property
    def default(self) -> Any:
        """The first candidate."""
        return self.values[0]

    def __len__(self) -> int:
        return len(self.values)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one of the candidates (lists and tuples compare alike)."""
        try:
            return value_key(value) in self._keys
        except (TypeError, ValueError):
            return False

    def check(self, value: Any) -> Any:
        """Return ``value`` if it is a candidate, else raise :class:`InvalidValueError`."""
        if not self.contains(value):
            raise InvalidValueError(
                f"label {self.label!r}: value {value!r} is not a candidate; allowed values are "
                f"{list(self.values)!r}"
            )
        return list(value) if isinstance(value, tuple) else value

    def same_candidates(self, other: Categorical) -> bool:
        """Whether two decisions offer the same candidates in the same order."""
        return [value_key(v) for v in self.values] == [value_key(v) for v in other.values]

    def evaluate(self, sample: Mapping[str, Any]) -> Any:
        try:
            value = sample[self.label]
        except KeyError:
            from archspace.errors import MissingLabelError

            raise MissingLabelError(
                f"the sample has no value for label {self.label!r} (allowed values: {list(self.values)!r})"
            ) from None
        return self.check(value)

    def leaves(self) -> list[Categorical]:
        return [self]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Categorical):
            return NotImplemented
        return self.label == other.label and self.same_candidates(other)

    def __hash__(self) -> int:
        return hash((self.label, tuple(value_key(v) for v in self.values)))

    def __repr__(self) -> str:
        return f"Categorical({list(self.values)!r}, label={self.label!r})"


class Expression(ValueExpr):
    """Arithmetic on decisions (and constants), resolved by :meth:`evaluate`."""

    __slots__ = ("op", "symbol", "operands")

    def __init__(self, op: Callable[..., Any], symbol: str, operands: tuple[Any, ...]) -> None:
        self.op = op
        self.symbol = symbol
        self.operands = operands

    def evaluate(self, sample: Mapping[str, Any]) -> Any:
        args = [o.evaluate(sample) if isinstance(o, ValueExpr) else o for o in self.operands]
        return self.op(*args)

    def leaves(self) -> list[Categorical]:
        found: dict[str, Categorical] = {}
        for operand in self.operands:
            if isinstance(operand, ValueExpr):
                for leaf in operand.leaves():
                    found.setdefault(leaf.label, leaf)
        return list(found.values())

    def __repr__(self) -> str:
        if len(self.operands) == 1:
            return f"({self.symbol}{self.operands[0]!r})"
        left, right = self.operands
        return f"({left!r} {self.symbol} {right!r})"


def resolve(value: Any, sample: Mapping[str, Any]) -> Any:
    """``value`` with every :class:`ValueExpr` inside it (also in lists/tuples) evaluated."""
    if isinstance(value, ValueExpr):
        return value.evaluate(sample)
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(v, sample) for v in value)
    return value


def largest(value: Any) -> Any:
    """``value`` with every :class:`ValueExpr` replaced by its largest possible value."""
    if isinstance(value, ValueExpr):
        return value.max()
    if isinstance(value, (list, tuple)):
        return type(value)(largest(v) for v in value)
    return value


def find_leaves(value: Any) -> list[Categorical]:
    """Every decision inside ``value`` (an expression, or a list/tuple holding some)."""
    if isinstance(value, ValueExpr):
        return value.leaves()
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in find_leaves(v)]
    return []


__all__ = ["Categorical", "Expression", "ValueExpr", "find_leaves", "largest", "resolve", "value_key"]
