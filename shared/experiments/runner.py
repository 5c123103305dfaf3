"""The experiment runner: a published dataset version x variants x repetitions, async end to end.

Model calls run on one event loop with bounded concurrency; a 429 halves the concurrency (and it
grows back as calls succeed), retries back off with jitter, and each run has a deadline. Runs are
persisted and their evaluations sent to Datadog by a writer thread in batches, off the critical
path. Run ids are deterministic, so a resumed experiment does only the runs that are missing or
failed and every run exists exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.config import Settings
from shared.errors import ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable
from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.base import Evaluator
from shared.llm import ModelClient, ModelRequest, ModelResponse, get_model_client
from shared.llm.pricing import estimated_cost_usd
from shared.models import DatasetEntry, ExperimentRecord, RunRecord, TokenUsage, Variant
from shared.observability import llmobs
from shared.observability.evaluation_delivery import deliver
from shared.prompts import get_prompt
from shared.services.evaluation_sending import submissions_for
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox
from shared.storage.experiments import FirestoreExperimentRepository, run_id
from shared.storage.images import GcsImageStore

logger = logging.getLogger(__name__)

_GROW_AFTER_SUCCESSES = 20
_ENTRY_PAGE = 500
_MAX_BACKOFF_S = 8.0
_RETRYABLE_UNAVAILABLE = {"model_unavailable", "model_bad_response"}


class AdaptiveLimiter:
    """At most `current` runs in flight: halved on a 429, grown back by one per 20 successes."""

    def __init__(self, limit: int) -> None:
        self.limit = self.current = limit
        self._in_flight = 0
        self._successes = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._in_flight < self.current)
            self._in_flight += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self._in_flight -= 1
            # Wake only as many waiters as there are free slots: notify_all would wake every
            # queued run (all of an experiment's runs queue here) on each release.
            self._changed.notify(max(0, self.current - self._in_flight))

    def rate_limited(self) -> None:
        self.current = max(1, self.current // 2)
        self._successes = 0

    def succeeded(self) -> None:
        self._successes += 1
        if self._successes >= _GROW_AFTER_SUCCESSES and self.current < self.limit:
            self.current += 1
            self._successes = 0


class CallRate:
    """At most `per_second` model calls a second from this process (0: no cap), shared by every
    experiment and shard the process runs: the model's quota is per project, not per experiment."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        at = max(now, self._next)
        self._next = at + self._interval
        if at > now:
            await asyncio.sleep(at - now)


class _ImageCache:
    """Each image read from Cloud Storage once per experiment (variants and repetitions share it)."""

    def __init__(self, images: GcsImageStore, capacity: int = 512) -> None:
        self._images = images
        self._capacity = capacity
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._loading: dict[str, asyncio.Future[bytes]] = {}

    async def get(self, uri: str) -> bytes:
        if uri in self._cache:
            self._cache.move_to_end(uri)
            return self._cache[uri]
        if uri not in self._loading:
            self._loading[uri] = asyncio.ensure_future(asyncio.to_thread(self._images.get, uri))
        try:
            data = await self._loading[uri]
        finally:
            self._loading.pop(uri, None)
        self._cache[uri] = data
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return data


class RunWriter:
    """Persists runs and delivers their evaluations in batches, on its own thread."""

    def __init__(
        self,
        repository: FirestoreExperimentRepository,
        experiment: ExperimentRecord,
        settings: Settings,
        *,
        batch_size: int = 200,
        interval_s: float = 0.5,
    ) -> None:
        self._repository = repository
        self._outbox = FirestoreEvaluationOutbox(repository.client)
        self._experiment = experiment
        self._settings = settings
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._queue: queue.Queue[RunRecord | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"runs-{experiment.experiment_id}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> RunWriter:
        self._thread.start()
        return self

    def put(self, run: RunRecord) -> None:
        self._queue.put(run)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        pending: list[RunRecord] = []
        closing = False
        while not closing:
            deadline = time.monotonic() + self._interval_s
            while len(pending) < self._batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                pending.append(item)
            if pending:
                try:
                    self._flush(pending)
                except BaseException as error:  # surfaced by close(): the experiment is marked failed
                    logger.exception("could not persist %d runs", len(pending))
                    self.error = error
                    return
                pending = []

    def _flush(self, runs: list[RunRecord]) -> None:
        # Evaluations first, then each run written once with its delivery outcome: marking runs
        # delivered in a second write doubled the Firestore writes, and on a small machine the
        # Firestore emulator's CPU for them slowed the model calls themselves. A crash between the
        # two steps leaves no run written, so a resume redoes those runs: evaluations may then be
        # sent twice (on the old and the new span), never lost.
        experiment_id = self._experiment.experiment_id
        submissions = []
        by_run: dict[str, list[str]] = {}
        for run in runs:
            variant = next(v for v in self._experiment.variants if v.name == run.variant)
            mine = submissions_for(
                run.evaluations,
                id_prefix=f"{experiment_id}~{run.run_id}",
                span_id=run.span_id,
                trace_id=run.trace_id,
                tags={
                    "experiment": self._experiment.name,
                    "experiment_id": experiment_id,
                    "variant": run.variant,
                    "prompt_version": variant.prompt_version,
                    "evaluation_provider": "vote-extractor",
                },
                source_kind="experiment",
                created_at=run.finished_at,
            )
            submissions += mine
            by_run[run.run_id] = [s.evaluation_id for s in mine]
        accepted = deliver(submissions, timeout_s=self._settings.llmobs_flush_timeout_s) if submissions else set()
        undelivered = [s for s in submissions if s.evaluation_id not in accepted]
        if undelivered:  # a Datadog outage: the resend routine delivers them from the outbox later
            self._outbox.keep_pending(undelivered)
        delivered = [
            run.model_copy(update={"llmobs_delivered": True}) if all(i in accepted for i in by_run[run.run_id]) else run
            for run in runs
        ]
        for start in range(0, len(delivered), 499):
            self._repository.save_runs(experiment_id, delivered[start : start + 499])


@dataclass(frozen=True)
class EntryRange:
    """Entries after `after` up to `last` inclusive, in id order (None: from the first / to the end)."""

    after: str | None = None
    last: str | None = None


class ExperimentStopped(Exception):
    """A shard stopped before all its runs were done (its share of the budget was spent)."""


@dataclass(frozen=True)
class _Job:
    entry: DatasetEntry
    variant: Variant
    repetition: int


class ExperimentRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        experiments: FirestoreExperimentRepository,
        datasets: FirestoreDatasetRepository,
        images: GcsImageStore,
    ) -> None:
        self._settings = settings
        self._experiments = experiments
        self._datasets = datasets
        self._images = images
        self._call_rate = CallRate(settings.model_calls_per_second)

    async def run(self, experiment_id: str) -> ExperimentRecord:
        """Do every run not yet succeeded, then summarise. Safe to call again after a crash."""
        experiment = self._experiments.get(experiment_id)
        succeeded = self._experiments.finished_run_ids(experiment_id, succeeded_only=True)
        resumed = bool(succeeded) or self._experiments.progress(experiment_id)[0] > 0
        finished, reason = await self._execute(experiment, succeeded, EntryRange(), experiment.budget_usd)
        return self._finish(experiment, reason, finished, resumed=resumed)

    async def run_range(self, experiment_id: str, entries: EntryRange, *, budget_usd: float | None) -> list[RunRecord]:
        """Do the runs of one shard (its entries, every variant and repetition) not yet succeeded;
        the experiment is summarised apart, when its last shard lands (`finish_from_store`)."""
        experiment = self._experiments.get(experiment_id)
        succeeded = self._experiments.finished_run_ids(experiment_id, succeeded_only=True)
        finished, reason = await self._execute(experiment, succeeded, entries, budget_usd)
        if reason:
            raise ExperimentStopped(reason)
        return finished

    def experiment(self, experiment_id: str) -> ExperimentRecord:
        return self._experiments.get(experiment_id)

    def finish_from_store(self, experiment_id: str, *, reason: str | None = None) -> ExperimentRecord:
        """Summarise an experiment from every run stored (all its shards have landed)."""
        return self._finish(self._experiments.get(experiment_id), reason, [], resumed=True)

    async def _execute(
        self, experiment: ExperimentRecord, succeeded: set[str], entries: EntryRange, budget_usd: float | None
    ) -> tuple[list[RunRecord], str | None]:
        experiment_id = experiment.experiment_id
        now = datetime.now(UTC)
        self._experiments.update(
            experiment_id,
            {
                "status": "running",
                "status_reason": None,
                "started_at": experiment.started_at or now,
                "heartbeat_at": now,
            },
        )
        models = {v.name: get_model_client(v.model, self._settings) for v in experiment.variants}
        evaluators = [create_evaluator(e["name"], e.get("params")) for e in experiment.evaluators]
        writer = RunWriter(self._experiments, experiment, self._settings).start()
        limiter = AdaptiveLimiter(experiment.concurrency)
        images = _ImageCache(self._images)
        spent = {"usd": 0.0}
        reason: str | None = None
        finished: list[RunRecord] = []

        async def one(job: _Job) -> None:
            nonlocal reason
            if budget_usd is not None and spent["usd"] >= budget_usd:
                reason = f"stopped: the budget of ${budget_usd:.2f} was spent"
                return
            run = await self._run_one(experiment, job, models[job.variant.name], evaluators, limiter, images)
            spent["usd"] += (
                estimated_cost_usd(job.variant.model, run.usage.input_tokens, run.usage.output_tokens) or 0.0
            )
            finished.append(run)
            writer.put(run)

        try:
            await asyncio.gather(
                *[asyncio.ensure_future(one(job)) async for job in self._jobs(experiment, succeeded, entries)]
            )
        finally:
            writer.close()
        return finished, reason

    async def _jobs(
        self, experiment: ExperimentRecord, succeeded: set[str], entries: EntryRange
    ) -> AsyncIterator[_Job]:
        """The runs still to do, page by page: the first runs start while later entries are read
        (reading 1,000 entries took about 0.4 s before any model call could start)."""
        after = entries.after
        page_size = max(32, 2 * experiment.concurrency)
        order = random.Random(experiment.experiment_id)
        while True:
            page = await asyncio.to_thread(
                self._datasets.page,
                experiment.dataset_name,
                experiment.dataset_version,
                page_size=page_size,
                after=after,
            )
            in_range = [entry for entry in page if entries.last is None or entry.id <= entries.last]
            jobs = [
                _Job(entry, variant, repetition)
                for repetition in range(experiment.repetitions)
                for entry in in_range
                for variant in experiment.variants
                if run_id(entry.id, variant.name, repetition) not in succeeded
            ]
            # Random order (seeded by the experiment): no variant always runs first, so the order of
            # submission cannot pass for a difference between variants (latency above all).
            order.shuffle(jobs)
            for job in jobs:
                yield job
            if len(page) < page_size or len(in_range) < len(page):
                return
            after = page[-1].id
            page_size = _ENTRY_PAGE

    def _finish(
        self, experiment: ExperimentRecord, reason: str | None, finished: list[RunRecord], *, resumed: bool
    ) -> ExperimentRecord:
        from shared.experiments.analysis import summarise_experiment

        # The writer has persisted every run of this call (close() raised otherwise), so a first
        # run summarises from memory; reading 1,000 runs back from Firestore took about 0.9 s.
        runs = finished
        if resumed:
            redone = {run.run_id for run in finished}
            runs = finished + [r for r in self._experiments.runs(experiment.experiment_id) if r.run_id not in redone]
        done, failed = len(runs), sum(run.status == "failed" for run in runs)
        total = experiment.progress.total
        status = "completed" if done == total and reason is None else "failed"
        if status == "failed" and reason is None:
            reason = f"{total - done} of {total} runs are missing"
        self._experiments.update(
            experiment.experiment_id,
            {
                "status": status,
                "status_reason": reason,
                "summary": summarise_experiment(experiment, runs),
                "progress": {"done": done, "total": total, "failed": failed},
                "finished_at": datetime.now(UTC),
            },
        )
        return self._experiments.get(experiment.experiment_id)

    async def _run_one(
        self,
        experiment: ExperimentRecord,
        job: _Job,
        model: ModelClient,
        evaluators: list[Evaluator],
        limiter: AdaptiveLimiter,
        images: _ImageCache,
    ) -> RunRecord:
        tags = {
            "experiment": experiment.name,
            "experiment_id": experiment.experiment_id,
            "variant": job.variant.name,
            "prompt_version": job.variant.prompt_version,
            "model": job.variant.model,
            "entry_id": job.entry.id,
            "repetition": str(job.repetition),
        }
        response: ModelResponse | None = None
        failure: ModelError | None = None
        attempts = 0
        span = None
        # The run's span is its llm span, tagged with experiment, variant and prompt_version (the
        # guide's 3.5); a workflow span around each run doubled the tracing cost per run.
        # Only the image read and the model call hold a slot: evaluating and recording a run
        # must not keep the model waiting.
        async with limiter:
            started = time.perf_counter()  # the run's clock starts when it gets a slot
            deadline = started + experiment.run_timeout_s
            try:
                image = await images.get(job.entry.input.image_uri)
            except Exception as error:  # a missing image fails this run, not the experiment
                failure = ModelUnavailable(f"the entry's image could not be read: {error}")
                image = b""
            request = ModelRequest(
                image=image,
                content_type=job.entry.input.content_type,
                prompt=get_prompt(job.variant.prompt_version),
                params=job.variant.params,
            )
            while failure is None:
                attempts += 1
                await self._call_rate.wait()
                remaining = deadline - time.perf_counter()
                with llmobs.capture_llm_span() as captured, llmobs.annotation_context(tags=tags):
                    try:
                        # asyncio.timeout, not wait_for: wait_for runs the call in a task of its own.
                        async with asyncio.timeout(max(0.01, remaining)):
                            response = await model.extract_async(request)
                    except (TimeoutError, ModelTimeout):
                        failure = ModelTimeout(f"the run took longer than {experiment.run_timeout_s:.0f} s")
                    except ModelRateLimited as error:
                        limiter.rate_limited()
                        failure = error if not await _backoff(attempts, deadline) else None
                    except ModelUnavailable as error:
                        retry = error.code in _RETRYABLE_UNAVAILABLE and attempts < 5
                        failure = error if not (retry and await _backoff(attempts, deadline)) else None
                    except ModelError as error:
                        failure = error
                span = captured.ref or span
                if response is not None:
                    limiter.succeeded()
                    break
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        context = EvaluatorContext(
            output=response.extraction if response else None,
            expected=job.entry.expected_output,
            raw_output=response.raw_output if response else None,
            error=failure.message if failure else None,
            input={"image_uri": job.entry.input.image_uri, "reference_docs": job.entry.reference_docs},
            metadata={"variant": job.variant.name, "model": job.variant.model},
            span=span,
        )
        inline = [e for e in evaluators if not e.runs_in_thread]
        threaded = [e for e in evaluators if e.runs_in_thread]
        evaluations = run_evaluators(inline, context)
        if threaded:
            evaluations += await asyncio.to_thread(run_evaluators, threaded, context)
        return RunRecord(
            run_id=run_id(job.entry.id, job.variant.name, job.repetition),
            entry_id=job.entry.id,
            variant=job.variant.name,
            repetition=job.repetition,
            image_uri=job.entry.input.image_uri,
            status="succeeded" if response else "failed",
            output=response.extraction if response else None,
            error=failure.message if failure else None,
            error_code=failure.code if failure else None,
            latency_ms=latency_ms,
            usage=response.usage if response else TokenUsage(),
            attempts=attempts,
            trace_id=span.trace_id if span else None,
            span_id=span.span_id if span else None,
            evaluations=evaluations,
            finished_at=datetime.now(UTC),
        )


async def _backoff(attempt: int, deadline: float) -> bool:
    """Sleep before another attempt; False when the run's deadline leaves no time for one."""
    delay = random.uniform(0.5, 1.0) * min(_MAX_BACKOFF_S, 0.25 * 2**attempt)
    if time.perf_counter() + delay >= deadline:
        return False
    await asyncio.sleep(delay)
    return True
