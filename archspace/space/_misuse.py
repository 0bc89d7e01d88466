"""Why a decision or expression refuses to act as a plain Python value, and the message that says so.

``if width == 32:`` or ``range(depth)`` in a space's constructor would silently freeze one
arbitrary branch of the space, so every :class:`~archspace.space.decisions.ValueExpr` raises
:class:`~archspace.errors.ChoiceMisuseError` instead, with the fix for that use. The refusals are
a mixin of their own so the decisions module holds the decisions and their arithmetic.
"""

from __future__ import annotations

from typing import Any, NoReturn

from archspace.errors import ChoiceMisuseError


class RefusesPlainUse:
    """Raises :class:`~archspace.errors.ChoiceMisuseError` on ``bool``, ``int``, ``float``,
    ``index``, iteration and ``in``, naming the labels involved and what to write instead."""

    __slots__ = ()

    def labels(self) -> list[str]:
        """The labels involved (a :class:`~archspace.space.decisions.ValueExpr` provides them)."""
        raise NotImplementedError

    def expr_text(self) -> str:
        """The value written out (a :class:`~archspace.space.decisions.ValueExpr` provides it)."""
        raise NotImplementedError

    def _is_comparison(self) -> bool:
        """Whether this is a comparison of choices (its truth value gets ``asp.condition`` advice)."""
        return False

    def _misuse(self, what: str) -> NoReturn:
        labels = ", ".join(repr(label) for label in self.labels())
        if what == "truth value" and self._is_comparison():
            fix = (
                "A comparison of choices is itself undecided: to pick a value by it write "
                f"asp.condition({self.expr_text()}, value_if_true, value_if_false); to pick "
                "modules by it, use a LayerChoice (or make the module's sizes choices)."
            )
        elif what == "comparison":
            fix = "Use asp.max / asp.min / asp.condition to combine choices."
        elif what in ("integer", "float"):
            fix = "Use round(x) or asp.to_int(x) for an integer-valued expression of the choices."
        else:
            fix = (
                "Feed it to an archspace.nn layer (archspace.nn.Conv2d, Linear, BatchNorm2d, "
                "LayerNorm, ...), to Repeat, to other choices, or to asp.condition / asp.max / "
                "asp.min."
            )
        raise ChoiceMisuseError(
            f"{self!r} (labels {labels}) was used as a plain Python {what}, but in a model space "
            f"it is still undecided. {fix} It becomes a plain value only under a sample "
            "(space.freeze(sample) or archspace.fixed_arch(sample))."
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

    def __reversed__(self) -> NoReturn:
        self._misuse("iterable")

    def __contains__(self, item: Any) -> bool:
        self._misuse("container")


__all__ = ["RefusesPlainUse"]
