"""The evaluation module: one evaluator contract and registry, shared by every function."""

from shared.evaluation import offline, online, ragas_metrics  # noqa: F401  (registers the built-in evaluators)
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
