"""The exception hierarchy of archspace.

Every error archspace raises on purpose derives from :class:`ArchspaceError`, so a caller can
catch them all in one place; the subclasses also derive from the matching built-in exception
(``ValueError``, ``TypeError``) so code written against the built-ins keeps working. Messages name
the offending label, value, file or place, and what would have been allowed.
"""

from __future__ import annotations


def short_repr(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters: error messages never echo megabytes of input."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}... ({len(text)} characters)"


class ArchspaceError(Exception):
    """Base class of every error archspace raises deliberately."""


class SpaceDefinitionError(ArchspaceError, ValueError):
    """A model space is written in a way archspace cannot turn into decisions."""


class DuplicateLabelError(SpaceDefinitionError):
    """Two decisions share a label but disagree on their candidates."""


class ChoiceMisuseError(ArchspaceError, TypeError):
    """A choice was used where a concrete value is required (e.g. given to a plain torch layer)."""


class SpaceForwardError(ArchspaceError, RuntimeError):
    """A model space (not a frozen model) was asked to run forward."""


class SampleError(ArchspaceError, ValueError):
    """A sample does not fit its search space."""


class UnknownLabelError(SampleError):
    """A sample names a label that the space does not have."""


class MissingLabelError(SampleError):
    """A sample lacks a label whose decision is active."""


class InvalidValueError(SampleError):
    """A sample gives a decision a value that is not among its candidates."""


class SampleFileError(SampleError):
    """A sample file is missing, is not JSON, or does not hold a sample."""


class UnknownNameError(ArchspaceError, KeyError):
    """A registry lookup named something that is not registered; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would print the message quoted, as a repr
        return str(self.args[0]) if self.args else ""


__all__ = [
    "ArchspaceError",
    "ChoiceMisuseError",
    "DuplicateLabelError",
    "InvalidValueError",
    "MissingLabelError",
    "SampleError",
    "SampleFileError",
    "SpaceDefinitionError",
    "SpaceForwardError",
    "UnknownLabelError",
    "UnknownNameError",
    "short_repr",
]
