"""Where evaluators register by name (`register`), and how a list of them runs (`run_evaluators`).

An evaluator module imports this one to register itself; building one by name, with the built-in
evaluators loaded, is `shared.evaluation.catalog`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TypeVar

from shared.evaluation.base import Evaluator, EvaluatorContext
from shared.models import Evaluation

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, type[Evaluator]] = {}
E = TypeVar("E", bound=type[Evaluator])


def register(evaluator: E) -> E:
    """Class decorator: make an evaluator constructible by its `name`."""
    if evaluator.name in _REGISTRY:
        raise ValueError(f"evaluator {evaluator.name!r} is registered twice")
    _REGISTRY[evaluator.name] = evaluator
    return evaluator


def registered(name: str) -> type[Evaluator] | None:
    return _REGISTRY.get(name)


def registered_names() -> list[str]:
    return sorted(_REGISTRY)


def run_evaluators(evaluators: Iterable[Evaluator], ctx: EvaluatorContext) -> list[Evaluation]:
    """Run each evaluator; one that raises becomes a recorded failure, never a crashed caller."""
    evaluations = []
    for evaluator in evaluators:
        # Any object with name, version, metric_type and evaluate will do; the base's properties
        # give an evaluator whose params make several metrics (llm_judge) its own label and type.
        label = getattr(evaluator, "evaluation_label", evaluator.name)
        metric_type = getattr(evaluator, "result_metric_type", evaluator.metric_type)
        try:
            result = evaluator.evaluate(ctx)
        except Exception as error:  # an evaluator bug must not lose the others' results
            logger.warning("evaluator %s raised", label, exc_info=True)
            evaluations.append(
                Evaluation(
                    label=label,
                    metric_type=metric_type,
                    value=None,
                    evaluator_version=evaluator.version,
                    error=f"{type(error).__name__}: {error}",
                    # What the failed attempt still records, e.g. a judge's tokens (they were paid for).
                    details=dict(getattr(error, "evaluation_details", None) or {}),
                )
            )
            continue
        if result is None:
            continue
        evaluations.append(
            Evaluation(
                label=label,
                metric_type=metric_type,
                value=result.value,
                reasoning=result.reasoning,
                assessment=result.assessment,
                evaluator_version=evaluator.version,
                tags=dict(result.tags),
                details=dict(result.details),
            )
        )
    return evaluations
