"""Evaluators: how a trial trains and scores one frozen model."""

from __future__ import annotations

from archspace.evaluate.base import (
    Evaluator,
    EvaluatorError,
    FunctionalEvaluator,
    MetricError,
    TrialContext,
    check_metric,
    split_result,
)
from archspace.evaluate.training import Classification, Regression

EVALUATORS: dict[str, type[Evaluator]] = {
    "classification": Classification,
    "regression": Regression,
    "functional": FunctionalEvaluator,
}

__all__ = ["EVALUATORS", "Classification", "Evaluator", "EvaluatorError", "FunctionalEvaluator", "MetricError", "Regression",
           "TrialContext", "check_metric", "split_result"]
