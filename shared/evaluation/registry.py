"""Evaluators found by name, so experiment configs stored in Firestore can name them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.errors import InvalidField
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


def _load_built_ins() -> None:
    # The built-in evaluators register themselves when imported: only on the first lookup, so a
    # function that needs no evaluator (datasets: corrections only) does not import them at cold start.
    from shared.evaluation import cross_check, llm_judge, offline, online, ragas_metrics  # noqa: F401


def evaluator_names() -> list[str]:
    _load_built_ins()
    return sorted(_REGISTRY)


def create_evaluator(name: str, params: Mapping[str, Any] | None = None) -> Evaluator:
    """Build a registered evaluator; unknown names and bad params are InvalidField (422)."""
    _load_built_ins()
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidField(f"Unknown evaluator {name!r}.", details={"known": evaluator_names()})
    accepted = (
        sorted(f.name for f in dataclasses.fields(factory) if f.init) if dataclasses.is_dataclass(factory) else None
    )
    unknown = sorted(set(params or {}) - set(accepted)) if accepted is not None else []
    if unknown:
        raise InvalidField(
            f"Evaluator {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {', '.join(accepted) or 'none'}.",
            details={"evaluator": name, "unknown": unknown, "parameters": accepted},
        )
    try:
        return factory(**dict(params or {}))
    except (TypeError, ValueError, ValidationError) as error:
        raise InvalidField(f"Bad parameters for evaluator {name!r}: {error}") from None


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
