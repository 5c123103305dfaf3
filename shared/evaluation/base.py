"""The evaluator contract: an immutable context in, a result out.

Used online by `extract`, by `feedback`, and offline by experiments. Evaluators are pure and may
be called concurrently: they must not mutate their own state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from shared.models import Assessment, MetricType, SpanRef, VoteExtraction


@dataclass(frozen=True)
class EvaluatorContext:
    """Everything an evaluator may look at. `output` is None when the model failed."""

    output: VoteExtraction | None
    expected: VoteExtraction | None = None
    raw_output: str | None = None
    error: str | None = None
    input: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    span: SpanRef | None = None


@dataclass(frozen=True)
class EvaluatorResult:
    """One verdict. `tags` are strings for Datadog; `details` is structured data kept with the run
    (e.g. `{"fields": {path: bool}}` for per-field accuracy, `{"skipped": True}` for a metric that
    could not run, whose `value` is then None)."""

    value: Any
    reasoning: str | None = None
    assessment: Assessment | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


class Evaluator(Protocol):
    """Named and versioned. `evaluate` returns None when it does not apply (e.g. no expected)."""

    name: ClassVar[str]
    version: ClassVar[str]
    metric_type: ClassVar[MetricType]

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None: ...


def within(name: str, value: float, low: float, high: float) -> float:
    """An evaluator parameter checked against its range (ValueError: the registry makes it a 422)."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value
