"""What a trial hands back is stored whatever it is: text and JSON made safe for SQLite.

A trial's error message, metrics and reports come from user code: a file name Python could not
decode (a lone surrogate), a NUL byte, an object that cannot be written as JSON or whose
``repr`` itself raises, a structure nested thousands deep, a step beyond SQLite's 64-bit
integers. The store must record such a trial (escaped, capped, or as a failure with a clear
reason) and never let it stop the driver, which would stop the experiment for good: a resume
re-runs the same trial and dies again.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Longest text stored for one error message or string value (characters); the rest is cut.
MAX_TEXT = 65_536
#: Deepest nesting of a metrics mapping stored as it is; deeper parts become their ``repr``.
MAX_DEPTH = 32
#: Reported steps must be integers in ``[0, MAX_STEP]`` (SQLite stores 64-bit signed integers).
MAX_STEP = 2**63 - 1


def safe_text(text: Any, limit: int = MAX_TEXT) -> str:
    """``text`` as a string SQLite and UTF-8 accept: lone surrogates and NUL bytes escaped
    (``\\udce9``, ``\\x00``), cut to ``limit`` characters with a note of how much was cut."""
    if not isinstance(text, str):
        text = _repr(text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more characters cut]"
    return text


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a repr that raises is user code too
        return f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"


def plain(value: Any, depth: int = 0) -> Any:
    """JSON data for ``value``: strings made safe, non-finite floats as strings (``"nan"``,
    ``"inf"``), integers beyond 64 bits and other objects as their (safe) ``repr``, mappings
    deeper than :data:`MAX_DEPTH` as their ``repr``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_STEP - 1 <= value <= MAX_STEP else safe_text(str(value), 200)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return safe_text(value)
    if depth >= MAX_DEPTH:
        return safe_text(_repr(value), 1_000)
    if isinstance(value, dict):
        return {safe_text(k, 1_000) if isinstance(k, str) else safe_text(_repr(k), 1_000): plain(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return safe_text(_repr(value), 1_000)


def safe_json(value: Any) -> str:
    """``json.dumps`` of :func:`plain` data: never raises."""
    return json.dumps(plain(value))


def check_step(step: Any) -> int:
    """A reported step as an int in ``[0, MAX_STEP]``.

    Raises:
        ValueError: anything else, naming the value and what is allowed.
    """
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise ValueError(f"a reported step must be an int from 0 to 2**63 - 1, got {safe_text(_repr(step), 200)}")
    return step


__all__ = ["MAX_DEPTH", "MAX_STEP", "MAX_TEXT", "check_step", "plain", "safe_json", "safe_text"]
