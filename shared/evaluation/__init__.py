"""The evaluation module: one evaluator contract and registry, shared by every function."""

from shared.evaluation.base import EvaluatorContext, EvaluatorResult
from shared.evaluation.catalog import create_evaluator, evaluator_names
from shared.evaluation.online_judges import parse_online_judges
from shared.evaluation.registry import register, run_evaluators
from shared.models import SpanRef  # lives with the records; re-exported for evaluators' callers

__all__ = [
    "EvaluatorContext",
    "EvaluatorResult",
    "SpanRef",
    "create_evaluator",
    "evaluator_names",
    "parse_online_judges",
    "register",
    "run_evaluators",
]
