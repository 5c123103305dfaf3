"""The experiments use case: start, watch, resume, compare and report experiments.

An experiment is validated completely before anything is stored (dataset version published,
models, params, prompts and evaluators known, bounds respected), then runs in the background
(`ExperimentRunner`); its status is read back from Firestore.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from shared.config import Settings, get_settings
from shared.errors import Conflict, InvalidField, NotFound
from shared.evaluation import create_evaluator
from shared.experiments.runner import ExperimentRunner
from shared.experiments.shards import ShardMessage, ShardPublisher, ShardWorker, plan_shards
from shared.llm import get_model_client
from shared.llm.pricing import estimated_cost_usd
from shared.models import EXPERIMENT_ID_PATTERN, ExperimentProgress, ExperimentRecord, TokenUsage, Variant
from shared.observability import llmobs
from shared.prompts import get_prompt
from shared.services.dataset_entries import check_name, check_version
from shared.services.paging import decode_page_token, encode_page_token
from shared.storage.clients import firestore_client, storage_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.images import GcsImageStore
from shared.storage.shards import FirestoreShardRepository

logger = logging.getLogger(__name__)

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
STALE_AFTER_S = 120.0
# What one call is assumed to use when estimating cost before any run (a form image + the prompt).
ESTIMATED_USAGE = TokenUsage(input_tokens=1_300, output_tokens=350, total_tokens=1_650)


class DatasetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: str


class RunSettings(BaseModel):
    """What an experiment runs and how: shared by POST /experiments and schedules."""

    model_config = ConfigDict(extra="forbid")

    variants: list[Variant] = Field(min_length=1, max_length=10)
    evaluators: list[str | dict[str, dict[str, Any]]] | None = None
    repetitions: StrictInt = Field(1, ge=1, le=MAX_REPETITIONS)
    concurrency: StrictInt = Field(8, ge=1, le=MAX_CONCURRENCY)
    run_timeout_s: float = Field(120.0, gt=0, le=900)
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
    dry_run: StrictBool = False


def evaluator_specs(given: list[str | dict[str, dict[str, Any]]] | None) -> list[dict[str, Any]]:
    """Normalise `["a", {"b": {...}}]` to `[{"name": "a", "params": {}}, ...]`, checking each exists."""
    specs = []
    for item in given if given is not None else list(DEFAULT_EVALUATORS):
        if isinstance(item, str):
            spec: dict[str, Any] = {"name": item, "params": {}}
        elif len(item) == 1:
            [(name, params)] = item.items()
            spec = {"name": name, "params": params}
        else:
            raise InvalidField("Name each evaluator as a string or {name: params}.", details={"field": "evaluators"})
        create_evaluator(spec["name"], spec["params"])  # unknown name or bad params: 422 now, not mid-run
        specs.append(spec)
    return specs


class ExperimentService:
    def __init__(
        self,
        *,
        settings: Settings,
        experiments: FirestoreExperimentRepository,
        datasets: FirestoreDatasetRepository,
        runner: ExperimentRunner,
        shards: FirestoreShardRepository,
        publisher: ShardPublisher,
    ) -> None:
        self._settings = settings
        self._experiments = experiments
        self._datasets = datasets
        self._runner = runner
        self._shards = shards
        self._publisher = publisher
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    @property
    def runner(self) -> ExperimentRunner:
        return self._runner

    def plan(self, request: ExperimentRequest, *, experiment_id: str | None = None) -> ExperimentRecord:
        """Check everything a client sent and build the experiment, storing nothing."""
        version = self._datasets.version(check_name(request.dataset.name), check_version(request.dataset.version))
        if version.status != "published":
            raise Conflict(
                f"{request.dataset.name}@{request.dataset.version} is a draft: publish it first, experiments "
                "pin a frozen version.",
                details={"dataset": request.dataset.model_dump()},
            )
        for variant in request.variants:
            model = get_model_client(variant.model, self._settings)
            variant.params = model.validate_params(variant.params)
            get_prompt(variant.prompt_version)
        if request.baseline_experiment_id:
            self._experiments.get(request.baseline_experiment_id)
        total = version.entry_count * len(request.variants) * request.repetitions
        estimate = (
            sum(
                # A model missing from the price table (a new Gemini id) is counted as free.
                estimated_cost_usd(v.model, ESTIMATED_USAGE.input_tokens, ESTIMATED_USAGE.output_tokens) or 0.0
                for v in request.variants
            )
            * version.entry_count
            * request.repetitions
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
            evaluators=evaluator_specs(request.evaluators),
            repetitions=request.repetitions,
            concurrency=request.concurrency,
            run_timeout_s=request.run_timeout_s,
            budget_usd=request.budget_usd,
            estimated_cost_usd=round(estimate, 4),
            baseline_experiment_id=request.baseline_experiment_id,
            progress=ExperimentProgress(total=total),
            created_at=datetime.now(UTC),
        )

    def start(
        self,
        request: ExperimentRequest,
        *,
        experiment_id: str | None = None,
        schedule_id: str | None = None,
        slot: str | None = None,
        fan_out: bool = False,
    ) -> ExperimentRecord:
        """Store and start an experiment: in this process, or, when it has more runs than a shard
        (or `fan_out`), as shards through Pub/Sub. Conflict when `experiment_id` exists."""
        experiment = self.plan(request, experiment_id=experiment_id)
        experiment.schedule_id, experiment.slot = schedule_id, slot
        if request.dry_run:
            return experiment
        if fan_out or experiment.progress.total > self._settings.shard_size:
            shards = plan_shards(self._datasets, experiment, self._settings.shard_size)
            experiment.shard_count = len(shards)
            self._shards.create_experiment(experiment, shards)
            self.publish_unpublished(experiment.experiment_id)
            return experiment
        self._experiments.create(experiment)
        self._launch(experiment.experiment_id)
        return experiment

    def publish_unpublished(self, experiment_id: str, *, include_unfinished: bool = False) -> list[int]:
        """Publish the shards not yet published (or, to resume, every shard not finished)."""
        shards = self._shards.all(experiment_id)
        wanted = [
            s.index
            for s in shards
            if not s.published or (include_unfinished and s.status in ("pending", "running", "failed"))
        ]
        if not wanted:
            return []
        published = self._publisher.publish([ShardMessage(experiment_id, index) for index in wanted])
        if published:
            self._shards.mark_published(experiment_id, published)
        return published

    def recover_stalled_shards(self) -> dict[str, list[int]]:
        """Republish the shards of fanned-out experiments that stopped moving: a shard whose worker
        died holding it (lease expired), or every unfinished shard of an experiment no run has
        landed in for a lease's length (its messages were lost or dead-lettered). The scheduled
        function calls this on every trigger; shards are idempotent, so a needless republish costs
        only a delivery."""
        now = datetime.now(UTC)
        quiet = timedelta(seconds=self._settings.shard_lease_s)
        recovered: dict[str, list[int]] = {}
        for experiment in self._experiments.unfinished():
            if not experiment.shard_count:
                continue
            last_moved = experiment.heartbeat_at or experiment.created_at
            shards = self._shards.all(experiment.experiment_id)
            stalled = [
                s.index
                for s in shards
                if (s.status == "running" and s.lease_until is not None and s.lease_until < now)
                or (s.status == "pending" and now - last_moved > quiet and now - s.updated_at > quiet)
            ]
            if stalled:
                recovered[experiment.experiment_id] = self._publisher.publish(
                    [ShardMessage(experiment.experiment_id, index) for index in stalled]
                )
        return recovered

    def resume(self, experiment_id: str) -> ExperimentRecord:
        """Run again what is missing or failed (after a crash, a redeploy, or failures)."""
        experiment = self._experiments.get(experiment_id)
        if experiment.status == "completed" and experiment.progress.failed == 0:
            raise Conflict("The experiment is complete; nothing to resume.")
        if experiment.shard_count:
            self._shards.reopen_failed(experiment_id)
            self._experiments.update(experiment_id, {"status": "running", "status_reason": None})
            self.publish_unpublished(experiment_id, include_unfinished=True)
            return self._experiments.get(experiment_id)
        self._launch(experiment_id)
        return self._experiments.get(experiment_id)

    def run_now(self, experiment_id: str) -> ExperimentRecord:
        """Run in the calling thread (the scheduler, the CLI, tests)."""
        return asyncio.run(self._runner.run(experiment_id))

    def _launch(self, experiment_id: str) -> None:
        with self._lock:
            thread = self._running.get(experiment_id)
            if thread is not None and thread.is_alive():
                raise Conflict("The experiment is already running in this instance.")
            thread = threading.Thread(
                target=self._run_logged, args=(experiment_id,), name=f"experiment-{experiment_id}"
            )
            self._running[experiment_id] = thread
            thread.start()

    def _run_logged(self, experiment_id: str) -> None:
        try:
            self.run_now(experiment_id)
        except Exception as error:
            logger.exception("experiment %s failed", experiment_id)
            self._experiments.update(
                experiment_id, {"status": "failed", "status_reason": f"{type(error).__name__}: {error}"}
            )

    def wait(self, experiment_id: str, timeout_s: float | None = None) -> None:
        """Join this instance's run of the experiment (tests and the CLI)."""
        thread = self._running.get(experiment_id)
        if thread is not None:
            thread.join(timeout_s)

    def list(
        self,
        *,
        dataset: str | None,
        status: str | None,
        schedule_id: str | None,
        page_size: int,
        page_token: str | None,
    ) -> dict[str, Any]:
        """A page of experiments, newest first, in brief."""
        from shared.services.paging import decode_page_token, encode_page_token

        after = decode_page_token(page_token) if page_token else None
        found = self._experiments.listing(
            dataset=dataset, status=status, schedule_id=schedule_id, after=after, limit=page_size
        )
        return {
            "items": [
                {
                    "experiment_id": e.experiment_id,
                    "name": e.name,
                    "status": e.status,
                    "dataset": {"name": e.dataset_name, "version": e.dataset_version},
                    "variants": [v.model_dump(mode="json") for v in e.variants],
                    "progress": e.progress.model_dump(),
                    "schedule_id": e.schedule_id,
                    "created_at": e.created_at.isoformat(),
                    "finished_at": e.finished_at.isoformat() if e.finished_at else None,
                }
                for e in found
            ],
            "next_page_token": encode_page_token(found[-1].experiment_id) if len(found) == page_size else None,
        }

    def status(self, experiment_id: str) -> dict[str, Any]:
        experiment = self._experiments.get(experiment_id)
        progress = experiment.progress
        if experiment.status in ("queued", "running"):
            done, failed = self._experiments.progress(experiment_id)
            progress = ExperimentProgress(done=done, total=experiment.progress.total, failed=failed)
        body = experiment.model_dump(mode="json")
        body["progress"] = progress.model_dump()
        quiet_s = (datetime.now(UTC) - experiment.heartbeat_at).total_seconds() if experiment.heartbeat_at else 0.0
        if experiment.status == "running" and quiet_s > STALE_AFTER_S:
            body["status_reason"] = (
                f"no run has finished for {quiet_s:.0f} s: the instance running it may have stopped; "
                f"POST /experiments/{experiment_id}/resume continues it"
            )
        body["dataset"] = {"name": experiment.dataset_name, "version": experiment.dataset_version}
        if experiment.shard_count:
            shards = self._shards.all(experiment_id)
            body["shards"] = {
                "total": len(shards),
                **{
                    state: sum(s.status == state for s in shards)
                    for state in ("pending", "running", "completed", "failed")
                },
            }
        return body

    def results(self, experiment_id: str, *, page_size: int, page_token: str | None) -> dict[str, Any]:
        self._experiments.get(experiment_id)
        after = decode_page_token(page_token) if page_token else None
        runs = self._experiments.page(experiment_id, page_size=page_size, after=after)
        return {
            "items": [run.model_dump(mode="json") for run in runs],
            "next_page_token": encode_page_token(runs[-1].run_id) if len(runs) == page_size else None,
        }

    def compare(
        self, experiment_id: str, *, a: str | None, b: str | None, baseline: str | None, variant: str | None
    ) -> dict[str, Any]:
        from shared.experiments.analysis import baseline_variant, compare_experiment_runs

        experiment = self._experiments.get(experiment_id)
        if baseline:
            base = self._experiments.get(baseline)
            mine = variant or _only_variant(experiment)
            theirs = baseline_variant(base, variant) or _only_variant(base)
            runs_a = [r for r in self._experiments.runs(baseline) if r.variant == theirs]
            runs_b = [r for r in self._experiments.runs(experiment_id) if r.variant == mine]
            labels = {"a": f"{baseline}:{theirs}", "b": f"{experiment_id}:{mine}"}
        else:
            if not a or not b:
                raise InvalidField(
                    "Give ?a=VARIANT&b=VARIANT, or ?baseline=EXPERIMENT_ID.", details={"fields": ["a", "b"]}
                )
            names = {v.name for v in experiment.variants}
            unknown = sorted({a, b} - names)
            if unknown:
                raise InvalidField(
                    f"No variant {unknown[0]!r} in this experiment.", details={"variants": sorted(names)}
                )
            runs = list(self._experiments.runs(experiment_id))
            runs_a = [r for r in runs if r.variant == a]
            runs_b = [r for r in runs if r.variant == b]
            labels = {"a": a, "b": b}
        return {"experiment_id": experiment_id, **labels, **compare_experiment_runs(runs_a, runs_b)}

    def report(self, experiment_id: str) -> str:
        from shared.experiments.report import render_report

        experiment = self._experiments.get(experiment_id)
        runs = list(self._experiments.runs(experiment_id))
        baseline = None
        if experiment.baseline_experiment_id:
            try:
                base = self._experiments.get(experiment.baseline_experiment_id)
                baseline = (base, list(self._experiments.runs(base.experiment_id)))
            except NotFound:  # a deleted baseline: the variants are compared among themselves
                logger.warning("Baseline %s of %s is gone", experiment.baseline_experiment_id, experiment_id)
        images = GcsImageStore(storage_client(), self._settings.images_bucket)
        return render_report(experiment, runs, images=images, baseline=baseline)


def _only_variant(experiment: ExperimentRecord) -> str:
    if len(experiment.variants) != 1:
        raise InvalidField(
            f"Experiment {experiment.experiment_id} has several variants: name one with ?variant=.",
            details={"variants": [v.name for v in experiment.variants]},
        )
    return experiment.variants[0].name


@lru_cache(maxsize=1)
def experiment_service() -> ExperimentService:
    settings = get_settings()
    llmobs.enable_llmobs(settings)
    datasets = FirestoreDatasetRepository(firestore_client())
    experiments = FirestoreExperimentRepository(firestore_client())
    runner = ExperimentRunner(
        settings=settings,
        experiments=experiments,
        datasets=datasets,
        images=GcsImageStore(storage_client(), settings.images_bucket),
    )
    return ExperimentService(
        settings=settings,
        experiments=experiments,
        datasets=datasets,
        runner=runner,
        shards=FirestoreShardRepository(firestore_client()),
        publisher=ShardPublisher(settings),
    )


@lru_cache(maxsize=1)
def shard_worker() -> ShardWorker:
    from shared.experiments.alerts import alert_service

    settings = get_settings()
    service = experiment_service()
    return ShardWorker(
        settings=settings,
        shards=FirestoreShardRepository(firestore_client()),
        runner=service.runner,
        alerts=alert_service(),
    )
