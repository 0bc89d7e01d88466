"""The operations expressions of choices are built from, as module-level (picklable) functions.

Spaces travel to worker processes by pickle, so an expression's operation must be importable by
name: builtins, :mod:`operator` and :mod:`math` functions, or the few defined here.
"""

from __future__ import annotations

import operator
from typing import Any

# How an operation is written in an expression's text: "infix" (a + b), "prefix" (-a),
# "call" (max(a, b)) or "index" (a[0]).
INFIX = {
    operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
    operator.floordiv: "//", operator.mod: "%", operator.pow: "**",
    operator.eq: "==", operator.ne: "!=", operator.lt: "<", operator.le: "<=",
    operator.gt: ">", operator.ge: ">=",
}
PREFIX = {operator.neg: "-", operator.pos: "+"}
COMPARISONS = frozenset({operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge})


def pick(predicate: Any, if_true: Any, if_false: Any) -> Any:
    """``if_true`` when ``predicate`` holds, else ``if_false`` (the operation of ``condition``)."""
    return if_true if predicate else if_false


__all__ = ["COMPARISONS", "INFIX", "PREFIX", "pick"]
