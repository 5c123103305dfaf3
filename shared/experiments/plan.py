"""Planning an experiment: what a client may ask for, checked completely before anything is stored.

The request (dataset version, variants as model x prompt x params, evaluators, repetitions,
bounds and budget) becomes an `ExperimentRecord` with its run count and estimated cost, or a
clear 4xx: a published version, known models, params, prompts, form types and evaluators, within
bounds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from shared.config import Settings
from shared.dataset_names import check_name, check_version
from shared.errors import Conflict, InvalidField, MalformedRequest
from shared.evaluation import create_evaluator
from shared.experiments.estimate import estimated_experiment_cost_usd, needs_reference_docs
from shared.form_types.expected import FormTypeResolver
from shared.llm import get_model_client
from shared.models import (
    EXPERIMENT_ID_PATTERN,
    DatasetVersion,
    ExperimentProgress,
    ExperimentRecord,
    Variant,
    WholeNumber,
)
from shared.ports.experiments import DatasetReader, ExperimentHistory
from shared.prompts import REFERENCE_DOCS, PromptRegistry, split_prompt_params

DEFAULT_EVALUATORS = (
    "vote_count_accuracy",
    "vote_count_exact",
    "candidate_f1",
    "count_error",
    "completeness",
    "schema_valid",
    "consistency",
    "ragas_name_similarity",
    "ragas_party_similarity",
    "ragas_faithfulness",
    "ragas_answer_relevancy",
    "ragas_context_precision",
)
MAX_CONCURRENCY = 256
MAX_REPETITIONS = 20
# A run must fit in one shard delivery: the worker stops starting runs after SHARD_TIME_BUDGET_S and
# waits for those in flight, so budget + this bound stays inside the worker's timeout (catalog).
MAX_RUN_TIMEOUT_S = 240.0


class DatasetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str


class RunSettings(BaseModel):
    """What an experiment runs and how: shared by POST /experiments and schedules."""

    model_config = ConfigDict(extra="forbid")

    variants: list[Variant] = Field(min_length=1, max_length=10)
    evaluators: list[str | dict[str, dict[str, Any]]] | None = None
    repetitions: WholeNumber = Field(1, ge=1, le=MAX_REPETITIONS)
    concurrency: WholeNumber = Field(8, ge=1, le=MAX_CONCURRENCY)
    run_timeout_s: float = Field(120.0, gt=0, le=MAX_RUN_TIMEOUT_S)
    budget_usd: float | None = Field(None, ge=0)

    @field_validator("variants")
    @classmethod
    def _distinct_names(cls, variants: list[Variant]) -> list[Variant]:
        names = [v.name for v in variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be distinct")
        return variants


class ExperimentRequest(RunSettings):
    """POST /experiments (API.md)."""

    name: str = Field(min_length=1, max_length=100)
    dataset: DatasetRef
    baseline_experiment_id: str | None = Field(None, pattern=EXPERIMENT_ID_PATTERN)
    # The metric a comparison leads with (an evaluator's label); absent: `comparison.primary_metric`'s default.
    primary_metric: str | None = Field(None, min_length=1, max_length=100)
    dry_run: StrictBool = False


def evaluator_specs(
    given: list[str | dict[str, dict[str, Any]]] | None,
    *,
    stored_judges: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Normalise `["a", {"b": {...}}]` to `[{"name": "a", "params": {}}, ...]`, checking each exists
    and that no two record under one label (two `llm_judge`s need a `label` each). An `llm_judge`
    that names a stored judge (`{"judge": "name@version|name@label"}`) is stored as that version's
    params, examples included (`stored_judges`: the judge registry's `expand`), as a prompt is
    stored resolved."""
    specs = []
    labels: set[str] = set()
    for item in given if given is not None else list(DEFAULT_EVALUATORS):
        if isinstance(item, str):
            spec: dict[str, Any] = {"name": item, "params": {}}
        elif len(item) == 1:
            [(name, params)] = item.items()
            spec = {"name": name, "params": params}
        else:
            raise InvalidField("Name each evaluator as a string or {name: params}.", details={"field": "evaluators"})
        if spec["name"] == "llm_judge" and stored_judges is not None and isinstance(spec["params"], dict):
            if "judge" in spec["params"]:
                spec["params"] = stored_judges(spec["params"])
        # Unknown name or bad params: 422 now, not mid-run.
        label = create_evaluator(spec["name"], spec["params"]).evaluation_label
        if label in labels:
            raise InvalidField(
                f"Two evaluators would record their results as {label!r}: name each evaluator once, and give "
                "each llm_judge its own label.",
                details={"field": "evaluators", "label": label},
            )
        labels.add(label)
        specs.append(spec)
    return specs


def evaluator_labels(specs: list[dict[str, Any]]) -> list[str]:
    """The labels the evaluators record their results under, in order (the metrics compared)."""
    return [create_evaluator(spec["name"], spec["params"]).evaluation_label for spec in specs]


def check_primary_metric(primary: str | None, labels: list[str]) -> None:
    """A declared primary metric must be one the experiment's evaluators record (400 otherwise)."""
    if primary is not None and primary not in labels:
        raise MalformedRequest(
            f"primary_metric {primary!r} is not a metric this experiment records: name one of its evaluators' "
            f"labels ({', '.join(labels)}).",
            code="unknown_metric",
            details={"field": "primary_metric", "metrics": labels},
        )


def plan_experiment(
    request: ExperimentRequest,
    *,
    settings: Settings,
    datasets: DatasetReader,
    experiments: ExperimentHistory,
    prompts: PromptRegistry,
    form_types: FormTypeResolver,
    experiment_id: str | None = None,
    stored_judges: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> ExperimentRecord:
    """Check everything a client sent and build the experiment, storing nothing."""
    version = datasets.version(check_name(request.dataset.name), check_version(request.dataset.version))
    if version.status != "published":
        raise Conflict(
            f"{request.dataset.name}@{request.dataset.version} is a draft: publish it first, experiments "
            "pin a frozen version.",
            details={"dataset": request.dataset.model_dump()},
        )
    for index, variant in enumerate(request.variants):
        model = get_model_client(variant.model, settings)
        model_params, reference_docs = split_prompt_params(variant.params)
        variant.params = model.validate_params(model_params) | ({REFERENCE_DOCS: True} if reference_docs else {})
        # Stored resolved (`name@n`): the experiment says exactly which text ran, whatever a label does later.
        variant.prompt_version = prompts.resolve(variant.prompt_version).version
        if variant.form_type is not None:  # stored as given (`name`: the latest when each run starts)
            form_types.resolve(variant.form_type, field=f"variants[{index}].form_type")
    if request.baseline_experiment_id:
        experiments.get(request.baseline_experiment_id)
    total = version.entry_count * len(request.variants) * request.repetitions
    evaluators = evaluator_specs(request.evaluators, stored_judges=stored_judges)
    check_primary_metric(request.primary_metric, evaluator_labels(evaluators))
    estimate = estimated_experiment_cost_usd(
        request.variants,
        evaluators,
        reference_docs_chars=_reference_docs_chars(datasets, request, version, evaluators, settings),
        repetitions=request.repetitions,
        settings=settings,
    )
    if request.budget_usd is not None and estimate > request.budget_usd:
        raise InvalidField(
            f"The estimated cost ${estimate:.2f} is over the budget of ${request.budget_usd:.2f}.",
            details={"estimated_cost_usd": round(estimate, 4), "budget_usd": request.budget_usd},
        )
    return ExperimentRecord(
        experiment_id=experiment_id or uuid.uuid4().hex,
        name=request.name,
        dataset_name=request.dataset.name,
        dataset_version=request.dataset.version,
        variants=request.variants,
        evaluators=evaluators,
        repetitions=request.repetitions,
        concurrency=request.concurrency,
        run_timeout_s=request.run_timeout_s,
        budget_usd=request.budget_usd,
        estimated_cost_usd=round(estimate, 4),
        baseline_experiment_id=request.baseline_experiment_id,
        primary_metric=request.primary_metric,
        progress=ExperimentProgress(total=total),
        created_at=datetime.now(UTC),
    )


def _reference_docs_chars(
    datasets: DatasetReader,
    request: ExperimentRequest,
    version: DatasetVersion,
    evaluators: list[dict[str, Any]],
    settings: Settings,
) -> list[int]:
    """Each entry's reference documents' length, for the estimate; read (from the published
    version's snapshot) only when a variant puts them in the prompt or a judge quotes them."""
    if not needs_reference_docs(request.variants, evaluators, settings):
        return [0] * version.entry_count
    entries = datasets.stream(request.dataset.name, version.version)
    return [len(entry.reference_docs or "") for entry in entries]
