"""Module-level poison evaluators (worker processes and Ray import them by name): what a trial may
return, report or raise that the store cannot take as it is."""

from __future__ import annotations

from typing import Any

from torch import nn

from archspace.evaluate import Evaluator, TrialContext


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ raised")


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("__repr__ raised")


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"d": value}
    return value


POISONS = [
    "surrogate error", "nul error", "huge step", "negative step", "float step", "huge int metric",
    "surrogate metrics", "unprintable in metrics", "deep metrics", "unprintable error", "megabyte error", "fine",
]


def poison(model: nn.Module, ctx: TrialContext) -> Any:
    """Trial ``i`` does poison ``i mod len(POISONS)``."""
    kind = POISONS[ctx.trial_id % len(POISONS)]
    if kind == "surrogate error":
        raise FileNotFoundError("/data/caf\udce9.png")
    if kind == "nul error":
        raise ValueError("a\x00b")
    if kind == "huge step":
        ctx.report(0.5, 2**63)
    if kind == "negative step":
        ctx.report(0.5, -1)
    if kind == "float step":
        ctx.report(0.5, 1.5)  # type: ignore[arg-type]
    if kind == "huge int metric":
        return 2**80
    if kind == "surrogate metrics":
        return {"default": 0.5, "path": "caf\udce9\x00"}
    if kind == "unprintable in metrics":
        return {"default": 0.5, "thing": Unprintable()}
    if kind == "deep metrics":
        return {"default": 0.5, "deep": _deep(900)}
    if kind == "unprintable error":
        raise UnprintableError()
    if kind == "megabyte error":
        raise RuntimeError("x" * 2_000_000)
    return 0.25


class Acts(Evaluator):
    """An evaluator that does ``outcome`` in every trial (picklable: workers and Ray get a copy)."""

    def __init__(self, outcome: tuple[str, Any]) -> None:
        self.outcome = outcome

    def evaluate(self, model: nn.Module, ctx: TrialContext) -> Any:
        kind, arg = self.outcome
        if kind == "raise":
            raise RuntimeError(arg)
        if kind == "raise unprintable":
            raise UnprintableError()
        if kind == "return":
            return arg
        if kind == "return dict":
            return {"default": 0.5, **arg}
        value, step = arg
        ctx.report(value, step)
        return 0.5
