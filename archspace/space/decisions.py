"""Decisions: the labelled dimensions of a search space, and expressions built on them.

A decision is pure data (a label and its candidate values); it knows nothing about torch. The
value choices that users write with :func:`archspace.choice` are :class:`Categorical` decisions.
Arithmetic (``width * 2``, ``width // 4``, ``a + b``, ``k ** 2``, ``-w``, ``abs(w)``, ``round(r)``),
indexing (``kernel_and_stride[0]``) and comparisons (``width == 32``, ``depth < 3``) on them yield
an :class:`Expression` that resolves once a sample gives the decisions their values;
:mod:`archspace.space.expressions` adds ``max``, ``min``, ``condition`` and ``to_int``.

Decisions and expressions refuse to act as plain Python values (``bool``, ``int``, iteration):
that mistake would silently freeze one arbitrary branch of the space (``if width == 32:`` in a
constructor would drop a decision), so it raises :class:`~archspace.errors.ChoiceMisuseError`
naming the labels involved. Because ``==`` builds an expression, decisions hash and compare by
identity in dicts and sets; :meth:`Categorical.same_as` compares label and candidates.
"""

from __future__ import annotations

import math
import operator
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from archspace.errors import InvalidValueError, SpaceDefinitionError, short_repr
from archspace.space._misuse import RefusesPlainUse
from archspace.space._ops import COMPARISONS, INFIX, PREFIX, pick
from archspace.space._values import JSONScalar, is_decision_value, value_key


def caller_site() -> str:
    """The file:line of the user code that created a decision (outside archspace itself)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("archspace."):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _text(value: Any) -> str:
    """How a value is written inside an expression's text."""
    return value.expr_text() if isinstance(value, ValueExpr) else repr(value)


class ValueExpr(RefusesPlainUse):
    """Something whose value is decided by a sample: a decision or an expression of decisions.

    Operators build :class:`Expression` objects; using one as a plain value raises
    :class:`~archspace.errors.ChoiceMisuseError` (the refusals are a mixin of their own, in ``_misuse``). Hashing is by identity (``==`` builds an
    expression, so structural equality cannot be what dicts and sets use).
    """

    __slots__ = ()

    def evaluate(self, sample: Mapping[str, Any]) -> Any:
        """The value under ``sample`` (which must give every decision involved a value)."""
        raise NotImplementedError

    def leaves(self) -> list[Categorical]:
        """The distinct decisions this value depends on, in first-use order."""
        raise NotImplementedError

    def expr_text(self) -> str:
        """The expression written out, decisions shown as ``choice('label')``."""
        raise NotImplementedError

    def labels(self) -> list[str]:
        """The labels of the decisions this value depends on, in first-use order."""
        return [leaf.label for leaf in self.leaves()]

    def possible_values(self) -> list[Any]:
        """Every value this expression can take, sorted where the values allow it."""
        import itertools

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

    def __hash__(self) -> int:
        return object.__hash__(self)

    # Operators build expressions ---------------------------------------------------------------
    def _binary(self, other: Any, op: Callable[[Any, Any], Any], swap: bool = False) -> Expression:
        return Expression(op, INFIX[op], (other, self) if swap else (self, other))

    def __add__(self, other: Any) -> Expression:
        return self._binary(other, operator.add)

    def __radd__(self, other: Any) -> Expression:
        return self._binary(other, operator.add, True)

    def __sub__(self, other: Any) -> Expression:
        return self._binary(other, operator.sub)

    def __rsub__(self, other: Any) -> Expression:
        return self._binary(other, operator.sub, True)

    def __mul__(self, other: Any) -> Expression:
        return self._binary(other, operator.mul)

    def __rmul__(self, other: Any) -> Expression:
        return self._binary(other, operator.mul, True)

    def __floordiv__(self, other: Any) -> Expression:
        return self._binary(other, operator.floordiv)

    def __rfloordiv__(self, other: Any) -> Expression:
        return self._binary(other, operator.floordiv, True)

    def __truediv__(self, other: Any) -> Expression:
        return self._binary(other, operator.truediv)

    def __rtruediv__(self, other: Any) -> Expression:
        return self._binary(other, operator.truediv, True)

    def __mod__(self, other: Any) -> Expression:
        return self._binary(other, operator.mod)

    def __rmod__(self, other: Any) -> Expression:
        return self._binary(other, operator.mod, True)

    def __pow__(self, other: Any) -> Expression:
        return self._binary(other, operator.pow)

    def __rpow__(self, other: Any) -> Expression:
        return self._binary(other, operator.pow, True)

    # Comparisons build boolean expressions, for asp.condition; ``if width == 32:`` then fails
    # loudly in __bool__ instead of silently choosing one branch of the space.
    def __eq__(self, other: object) -> Expression:  # type: ignore[override]
        return self._binary(other, operator.eq)

    def __ne__(self, other: object) -> Expression:  # type: ignore[override]
        return self._binary(other, operator.ne)

    def __lt__(self, other: Any) -> Expression:
        return self._binary(other, operator.lt)

    def __le__(self, other: Any) -> Expression:
        return self._binary(other, operator.le)

    def __gt__(self, other: Any) -> Expression:
        return self._binary(other, operator.gt)

    def __ge__(self, other: Any) -> Expression:
        return self._binary(other, operator.ge)

    def __neg__(self) -> Expression:
        return Expression(operator.neg, "-", (self,))

    def __pos__(self) -> Expression:
        return Expression(operator.pos, "+", (self,))

    def __abs__(self) -> Expression:
        return Expression(abs, "abs", (self,))

    def __round__(self, ndigits: int | None = None) -> Expression:
        return Expression(round, "round", (self,) if ndigits is None else (self, ndigits))

    def __floor__(self) -> Expression:
        return Expression(math.floor, "math.floor", (self,))

    def __ceil__(self) -> Expression:
        return Expression(math.ceil, "math.ceil", (self,))

    def __trunc__(self) -> Expression:
        return Expression(math.trunc, "math.trunc", (self,))

    def __getitem__(self, key: Any) -> Expression:
        return Expression(operator.getitem, "[]", (self, key))


class Categorical(ValueExpr):
    """A decision among a finite list of JSON values.

    Args:
        values: the candidates, distinct JSON values (numbers, strings, booleans, None, or lists
            of those); the first one is the default.
        label: the decision's name in samples.
        origin: where the decision was written (file:line or module path), for error messages.

    Building, checking and sampling are linear in the number of candidates (one canonical key
    per candidate, kept in a set).
    """

    __slots__ = ("values", "label", "origin", "_keys", "_key_list")

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
                    f"decision {label!r}: candidate {short_repr(v)} is not a JSON value; candidates must be "
                    "numbers, strings, booleans, None or lists of those (use LayerChoice for modules)"
                )
            keys.append(value_key(v))
        key_set = frozenset(keys)
        if len(key_set) != len(keys):
            dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
            raise SpaceDefinitionError(f"decision {label!r} repeats candidates {dupes}; they must be distinct")
        self.values: tuple[Any, ...] = tuple(values)
        self.label = label
        self.origin = origin if origin is not None else caller_site()
        self._keys = key_set
        self._key_list = tuple(keys)

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
            shown = list(self.values) if len(self.values) <= 50 else [*self.values[:50], "..."]
            raise InvalidValueError(
                f"label {self.label!r}: value {short_repr(value)} is not a candidate; allowed values are "
                f"{short_repr(shown, 400)}"
            )
        return list(value) if isinstance(value, tuple) else value

    def same_candidates(self, other: Categorical) -> bool:
        """Whether two decisions offer the same candidates in the same order."""
        return self._key_list == other._key_list

    def same_as(self, other: object) -> bool:
        """Structural equality: another decision with the same label and candidates.

        ``==`` cannot serve here: it builds a boolean expression of the two decisions.
        """
        return isinstance(other, Categorical) and self.label == other.label and self.same_candidates(other)

    def evaluate(self, sample: Mapping[str, Any]) -> Any:
        try:
            value = sample[self.label]
        except KeyError:
            from archspace.errors import MissingLabelError

            raise MissingLabelError(
                f"the sample has no value for label {self.label!r} (allowed values: {short_repr(list(self.values), 400)})"
            ) from None
        return self.check(value)

    def leaves(self) -> list[Categorical]:
        return [self]

    def expr_text(self) -> str:
        return f"choice({self.label!r})"

    def __repr__(self) -> str:
        return f"Categorical({list(self.values)!r}, label={self.label!r})"


class Expression(ValueExpr):
    """An operation on decisions (and constants), resolved by :meth:`evaluate`.

    Args:
        op: a module-level callable (so spaces stay picklable) applied to the evaluated operands.
        symbol: how the operation is written: an infix/prefix operator, ``"[]"`` for indexing, or
            a function name for call form (``max(a, b)``).
        operands: decisions, expressions and constants (constants may be lists or tuples that
            hold expressions).
    """

    __slots__ = ("op", "symbol", "operands")

    def __init__(self, op: Callable[..., Any], symbol: str, operands: tuple[Any, ...]) -> None:
        self.op = op
        self.symbol = symbol
        self.operands = tuple(operands)

    def _is_comparison(self) -> bool:
        return self.op in COMPARISONS

    def evaluate(self, sample: Mapping[str, Any]) -> Any:
        if self.op is pick:  # condition: evaluate only the branch the predicate selects
            predicate, if_true, if_false = self.operands
            return resolve(if_true if resolve(predicate, sample) else if_false, sample)
        return self.op(*(resolve(o, sample) for o in self.operands))

    def leaves(self) -> list[Categorical]:
        found: dict[str, Categorical] = {}
        for leaf in find_leaves(list(self.operands)):
            found.setdefault(leaf.label, leaf)
        return list(found.values())

    def expr_text(self) -> str:
        ops = self.operands
        if self.symbol == "[]":
            key = ops[1]
            if isinstance(key, slice):
                parts = ["" if p is None else _text(p) for p in (key.start, key.stop, key.step)]
                inner = ":".join(parts[:2] if key.step is None else parts)
            else:
                inner = _text(key)
            return f"{_text(ops[0])}[{inner}]"
        if len(ops) == 2 and INFIX.get(self.op) == self.symbol:
            return f"({_text(ops[0])} {self.symbol} {_text(ops[1])})"
        if len(ops) == 1 and PREFIX.get(self.op) == self.symbol:
            return f"({self.symbol}{_text(ops[0])})"
        return f"{self.symbol}({', '.join(_text(o) for o in ops)})"

    def __repr__(self) -> str:
        return f"Expression({self.expr_text()})"


def resolve(value: Any, sample: Mapping[str, Any]) -> Any:
    """``value`` with every :class:`ValueExpr` inside it (also in lists/tuples) evaluated."""
    if isinstance(value, ValueExpr):
        return value.evaluate(sample)
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(v, sample) for v in value)
    if isinstance(value, slice):
        return slice(resolve(value.start, sample), resolve(value.stop, sample), resolve(value.step, sample))
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
    if isinstance(value, slice):
        return find_leaves([value.start, value.stop, value.step])
    return []


__all__ = ["Categorical", "caller_site", "Expression", "JSONScalar", "ValueExpr", "find_leaves", "is_decision_value", "largest",
           "resolve", "value_key"]
