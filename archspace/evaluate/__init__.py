"""Evaluators: how a trial trains and scores one frozen model, and a registry by name."""

from __future__ import annotations

from typing import Any

from archspace.evaluate.base import (
    Evaluator,
    EvaluatorError,
    FunctionalEvaluator,
    MetricError,
    TrialContext,
    check_metric,
    split_result,
)
from archspace.evaluate.landmarks import OCULAR_CORNERS, Landmarks, nme, pfld_loss
from archspace.evaluate.lightning import Lightning  # imports Lightning only when one is built
from archspace.evaluate.training import Classification, DropPathSchedule, Regression, SupervisedEvaluator
from archspace.registry import Registry

EVALUATORS: Registry[Evaluator] = Registry("evaluator")
EVALUATORS.add("classification", Classification)
EVALUATORS.add("regression", Regression)
EVALUATORS.add("functional", FunctionalEvaluator)
EVALUATORS.add("landmarks", Landmarks)
EVALUATORS.add("lightning", Lightning)


def create_evaluator(name: str, /, *args: Any, **kwargs: Any) -> Evaluator:
    """Build a registered evaluator by name: ``create_evaluator("classification", train, val, epochs=2)``.

    Raises:
        UnknownNameError: no evaluator has that name; the message lists the known ones.
        archspace.registry.UnknownArgumentError: a keyword the evaluator does not take.
    """
    return EVALUATORS.create(name, *args, **kwargs)


def list_evaluators() -> list[str]:
    """The registered evaluator names, sorted."""
    return EVALUATORS.list()


__all__ = ["EVALUATORS", "Classification", "DropPathSchedule", "Evaluator", "EvaluatorError", "FunctionalEvaluator",
           "Landmarks", "Lightning", "MetricError", "OCULAR_CORNERS", "Regression", "SupervisedEvaluator", "TrialContext", "check_metric", "create_evaluator",
           "list_evaluators", "nme", "pfld_loss", "split_result"]
