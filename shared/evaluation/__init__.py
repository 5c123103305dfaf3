"""The evaluation module: one evaluator contract and registry, shared by every function."""

from shared.evaluation.base import EvaluatorContext, EvaluatorResult
from shared.evaluation.registry import create_evaluator, evaluator_names, register, run_evaluators
from shared.models import SpanRef  # lives with the records; re-exported for evaluators' callers

__all__ = [
    "EvaluatorContext",
    "EvaluatorResult",
    "SpanRef",
    "create_evaluator",
    "evaluator_names",
    "register",
    "run_evaluators",
]
