"""Functions that combine choices into expressions: ``max``, ``min``, ``condition``, ``to_int``.

Each one works on plain values too, with the plain result: under a sample (``space.freeze`` or
``archspace.fixed_arch``) :func:`archspace.choice` returns the chosen value itself, and the same
constructor code then computes plain numbers. In a model space, where some argument is still a
decision, the result is an :class:`~archspace.space.decisions.Expression` that freezes to the
plain value the same code would compute. Exported as ``archspace.max``, ``archspace.min``,
``archspace.condition`` and ``archspace.to_int``.

Example:
    >>> import archspace as asp
    >>> width = asp.Categorical([16, 32, 64], "width")
    >>> hidden = asp.condition(width >= 32, asp.max(width // 2, 24), width)
    >>> hidden
    Expression(condition((choice('width') >= 32), max((choice('width') // 2), 24), choice('width')))
    >>> [hidden.evaluate({"width": w}) for w in (16, 32, 64)]
    [16, 24, 32]
    >>> asp.max(3, 5)  # plain values give plain results
    5
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from archspace.errors import SpaceDefinitionError
from archspace.space._ops import pick
from archspace.space.decisions import Expression, ValueExpr, find_leaves


def _operands(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(args) == 1 and isinstance(args[0], Iterable) and not isinstance(args[0], (ValueExpr, str)):
        args = tuple(args[0])
    if not args:
        raise SpaceDefinitionError(f"asp.{name}() needs at least one value or choice")
    return args


def _extreme(fn: Any, name: str, args: tuple[Any, ...]) -> Any:
    """``fn`` (max or min) of ``args``: plain when nothing in them is decided, else an expression."""
    values = _operands(name, args)
    if len(values) == 1 or not find_leaves(list(values)):
        return fn(values)
    return Expression(fn, name, values)


def maximum(*args: Any) -> Any:
    """The largest of several choices, expressions and numbers (or of one iterable of them).

    Exported as ``archspace.max``; plain arguments give the plain ``max``.
    """
    return _extreme(builtins.max, "max", args)


def minimum(*args: Any) -> Any:
    """The smallest of several choices, expressions and numbers (or of one iterable of them).

    Exported as ``archspace.min``; plain arguments give the plain ``min``.
    """
    return _extreme(builtins.min, "min", args)


def condition(predicate: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true`` where ``predicate`` holds and ``if_false`` elsewhere: the ``if`` of choices.

    Args:
        predicate: usually a comparison of choices (``width == 32``, ``depth > 2``); a plain
            value (under a sample) picks a branch at once.
        if_true: the value (choice, expression or constant) where the predicate holds.
        if_false: the value where it does not.

    Exported as ``archspace.condition``. Only the selected branch is evaluated.
    """
    if not isinstance(predicate, ValueExpr):
        return if_true if predicate else if_false
    return Expression(pick, "condition", (predicate, if_true, if_false))


def to_int(value: Any) -> Any:
    """``int(value)`` (truncation toward zero) as an expression of choices.

    Python's own ``int()`` on a choice raises :class:`~archspace.errors.ChoiceMisuseError`,
    since it must return a plain int; use this (or ``round(x)``) for a derived integer.
    Exported as ``archspace.to_int``.
    """
    if isinstance(value, ValueExpr):
        return Expression(int, "to_int", (value,))
    return int(value)


def to_float(value: Any) -> Any:
    """``float(value)`` as an expression of choices (plain values give the plain float)."""
    if isinstance(value, ValueExpr):
        return Expression(float, "to_float", (value,))
    return float(value)


__all__ = ["condition", "maximum", "minimum", "to_float", "to_int"]
