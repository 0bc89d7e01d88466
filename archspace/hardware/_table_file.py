"""Reading a latency table file we did not write ourselves: every field checked, by name.

A table is trusted input: its figures flow into ``latency_ms`` constraints and objectives. A
file edited by hand, cut short or crafted must be refused with :class:`LatencyTableError` naming
the field, never with a raw ``KeyError``/``TypeError``/``RecursionError`` from deep inside the
parser, and never accepted with a NaN, an infinity or a negative time in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from archspace.hardware._measuring import LatencyTableError

T = TypeVar("T")

META_STRINGS = ("backend", "device", "dtype")
SPACE_PARTS = ("class", "args", "search_space")


def _where(source: str, field: str) -> str:
    return f"latency table {source!r}: {field}"


def field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], source: str, path: str = "") -> Any:
    """``data[name]``, of type ``kind``, or a LatencyTableError naming ``path.name``."""
    full = f"{path}.{name}" if path else name
    if name not in data:
        raise LatencyTableError(f"{_where(source, full)} is missing")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind in (int, float, (int, float)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise LatencyTableError(f"{_where(source, full)} must be {names}, got {type(value).__name__}")
    return value


def milliseconds(value: Any, source: str, path: str, *, signed: bool = False) -> float:
    """A finite time in milliseconds (``>= 0`` unless ``signed``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LatencyTableError(f"{_where(source, path)} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or (not signed and number < 0):
        allowed = "a finite number" if signed else "a finite number >= 0"
        raise LatencyTableError(f"{_where(source, path)} is {value!r}; it must be {allowed}")
    return number


def check_meta(meta: Any, source: str) -> dict[str, Any]:
    """The table's settings: threads, backend, device, dtype, input shape and space fingerprint."""
    if not isinstance(meta, Mapping):
        raise LatencyTableError(f"{_where(source, 'meta')} must be an object, got {type(meta).__name__}")
    threads = field(meta, "threads", int, source, "meta")
    if threads < 1:
        raise LatencyTableError(f"{_where(source, 'meta.threads')} is {threads}; it must be >= 1")
    for name in META_STRINGS:
        field(meta, name, str, source, "meta")
    shape = field(meta, "input_shape", list, source, "meta")
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise LatencyTableError(f"{_where(source, 'meta.input_shape')} must be a list of positive ints, got {shape!r}")
    space = field(meta, "space", dict, source, "meta")
    for part in SPACE_PARTS:
        if part not in space:
            raise LatencyTableError(f"{_where(source, 'meta.space.' + part)} is missing")
    return dict(meta)


def check_calibration(calibration: Any, source: str) -> dict[str, Any] | None:
    """None, or a calibration with a finite slope and intercept and finite per-kind terms."""
    if calibration is None:
        return None
    if not isinstance(calibration, Mapping):
        raise LatencyTableError(f"{_where(source, 'calibration')} must be an object or null, "
                                f"got {type(calibration).__name__}")
    out = dict(calibration)
    for name in ("slope", "intercept"):
        out[name] = milliseconds(field(calibration, name, (int, float), source, "calibration"), source,
                                 f"calibration.{name}", signed=True)
    per_kind = calibration.get("per_kind", {})
    if not isinstance(per_kind, Mapping):
        raise LatencyTableError(f"{_where(source, 'calibration.per_kind')} must be an object")
    if "per_kind" in calibration:
        out["per_kind"] = {str(kind): milliseconds(coef, source, f"calibration.per_kind.{kind}", signed=True)
                           for kind, coef in per_kind.items()}
    return out


def parse_each(items: Any, name: str, source: str, parse: Callable[[int, Any], T]) -> list[T]:
    """``parse(i, item)`` for every item of the list ``items``; a malformed item is refused by
    its index, whatever the parser raised."""
    if not isinstance(items, list):
        raise LatencyTableError(f"{_where(source, name)} must be a list, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(parse(i, item))
        except LatencyTableError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
            raise LatencyTableError(f"{_where(source, f'{name}[{i}]')} is malformed "
                                    f"({type(exc).__name__}: {str(exc)[:200]})") from None
    return out


__all__ = ["LatencyTableError", "check_calibration", "check_meta", "field", "milliseconds", "parse_each"]
