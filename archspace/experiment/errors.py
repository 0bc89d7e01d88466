"""The experiment package's errors and the checks of its settings (shared by both kinds of run)."""

from __future__ import annotations

from numbers import Real
from typing import Any

from archspace.errors import ArchspaceError
from archspace.experiment._signals import Terminated


class ExperimentError(ArchspaceError, RuntimeError):
    """The experiment cannot run as configured."""


class InvalidSettingError(ExperimentError, ValueError):
    """An experiment setting has the wrong type or value (the message names it and what is allowed)."""


def check_int(name: str, value: Any, *, minimum: int = 1, optional: bool = True) -> None:
    """Refuse ``value`` unless it is an int >= ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if optional else "")
        raise InvalidSettingError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")


def check_seconds(name: str, value: Any) -> None:
    """Refuse ``value`` unless it is a positive number of seconds or None."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value) > 0:
        raise InvalidSettingError(f"{name} must be a positive number of seconds or None, "
                                  f"got {value!r} ({type(value).__name__})")


__all__ = ["ExperimentError", "InvalidSettingError", "Terminated", "check_int", "check_seconds"]
