"""The evaluator contract: an immutable context in, a result out, and the base every evaluator extends.

Used online by `extract`, by `feedback`, and offline by experiments. Evaluators are pure, frozen
dataclasses and may be called concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from shared.models import Assessment, MetricType, SpanRef, VoteExtraction

if TYPE_CHECKING:
    from shared.config import Settings


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


@dataclass(frozen=True)
class Evaluator:
    """One named, versioned metric: a small frozen dataclass whose fields are its parameters.

    A subclass sets `name`, `version` and `metric_type` (plain class attributes, not fields),
    declares its parameters as fields (`bounded` for a number with a range), and implements
    `evaluate`, which returns None when the metric does not apply (e.g. no expected output).
    `runs_in_thread` marks evaluators that call the network or burn CPU (the Ragas ones): the
    experiment runner calls them off the event loop. An evaluator whose parameters make several
    distinct metrics (`llm_judge` with a rubric each) overrides `evaluation_label` and `result_metric_type`.
    What an evaluator needs from the process (its `settings`) is a `wired` field: the caller hands
    it in (`create_evaluator(..., settings=)`), an experiment's config cannot name it.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    metric_type: ClassVar[MetricType]
    runs_in_thread: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for param in fields(self):
            if "bounds" in param.metadata:
                within(param.name, getattr(self, param.name), *param.metadata["bounds"])

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        raise NotImplementedError

    @property
    def evaluation_label(self) -> str:
        """The label its evaluations are recorded and sent to Datadog under."""
        return self.name

    @property
    def result_metric_type(self) -> MetricType:
        """The metric type of its evaluations."""
        return self.metric_type

    def estimated_usage(self, settings: Settings, *, reference_docs_chars: int = 0) -> tuple[str, int, int] | None:
        """(model, input tokens, output tokens) one evaluation of an entry whose reference documents
        are `reference_docs_chars` long is assumed to spend on a model, for an experiment's cost
        estimate; None for an evaluator that calls no priced model."""
        return None


def wired() -> Any:
    """An evaluator field its caller fills in from the process (settings), not a parameter: an
    experiment's config cannot set it, and it takes no part in equality or repr."""
    return field(default=None, kw_only=True, repr=False, compare=False, metadata={"wired": True})


def is_wired(param: Field[Any]) -> bool:
    return bool(param.metadata.get("wired"))


def settings_given(evaluator: Evaluator, settings: Settings | None) -> Settings:
    """The settings an evaluator was built with; one built without them cannot run (a recorded
    failure that says how to build it)."""
    if settings is None:
        raise RuntimeError(
            f"evaluator {evaluator.name!r} was built without settings: build it with "
            "create_evaluator(name, params, settings=...)"
        )
    return settings


def bounded(default: float, low: float, high: float) -> Any:
    """A numeric evaluator parameter checked against [low, high] when the evaluator is built."""
    return field(default=default, metadata={"bounds": (low, high)})


def within(name: str, value: float, low: float, high: float) -> float:
    """An evaluator parameter checked against its range (ValueError: the registry makes it a 422)."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}")
    return value
