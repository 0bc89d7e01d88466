"""What a decision's value may be, and its canonical key (used by decisions, samples, conditions).

Kept apart from :mod:`archspace.space.decisions` because samples and conditions need these two
rules without the expression machinery; both stay importable from the decisions module.
"""

from __future__ import annotations

import json
from typing import Any

JSONScalar = (str, int, float, bool, type(None))


def value_key(value: Any) -> str:
    """A canonical, hashable key for a decision value.

    Values are JSON data; lists and tuples of the same items get the same key, so a sample that
    went through JSON (where tuples become lists) still matches its decision.
    """
    if type(value) is int:  # the common case, and what json.dumps writes for an int
        return str(value)
    return json.dumps(value, sort_keys=True)


def is_decision_value(value: Any) -> bool:
    """Whether ``value`` can be a decision's value: JSON scalars (not NaN) and lists of them."""
    if isinstance(value, JSONScalar):
        return not (isinstance(value, float) and value != value)  # NaN is not a usable candidate
    if isinstance(value, (list, tuple)):
        return all(is_decision_value(v) for v in value)
    return False


__all__ = ["JSONScalar", "is_decision_value", "value_key"]
