"""The evaluation module: one evaluator contract and registry, shared by every function."""

from shared.evaluation import online  # noqa: F401  (registers the online evaluators)
from shared.evaluation.base import EvaluatorContext, EvaluatorResult, SpanRef
from shared.evaluation.registry import create_evaluator, evaluator_names, register, run_evaluators

__all__ = [
    "EvaluatorContext",
    "EvaluatorResult",
    "SpanRef",
    "create_evaluator",
    "evaluator_names",
    "register",
    "run_evaluators",
]
