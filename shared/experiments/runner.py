"""The experiment runner: a published dataset version x variants x repetitions, async end to end.

Model calls run on one event loop with bounded concurrency; a 429 halves the concurrency (and it
grows back as calls succeed), retries back off with jitter, and each run has a deadline. Runs are
persisted and their evaluations sent to Datadog by a writer thread in batches, off the critical
path. Run ids are deterministic, so a resumed experiment does only the runs that are missing or
failed and every run exists exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.config import Settings
from shared.errors import ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable
from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.base import Evaluator
from shared.evaluation.llm_judge import evaluations_cost_usd
from shared.experiments.run_writer import RunWriter
from shared.llm import ModelClient, ModelRequest, ModelResponse, get_model_client
from shared.llm.pricing import estimated_cost_usd
from shared.models import DatasetEntry, ExperimentRecord, RunRecord, TokenUsage, Variant, run_id
from shared.observability import llmobs
from shared.ports.experiments import DatasetReader, ExperimentTracker
from shared.prompts import REFERENCE_DOCS, Prompt, as_stored, get_prompt, split_prompt_params
from shared.storage.ports import ImageReader

logger = logging.getLogger(__name__)

_GROW_AFTER_SUCCESSES = 20
_MAX_BACKOFF_S = 8.0
CANCEL_POLL_S = 2.0  # how often a running shard re-reads its experiment's status for a cancel
_CANCELLED = "cancelled"
_RETRYABLE_UNAVAILABLE = {"model_unavailable", "model_bad_response"}


class AdaptiveLimiter:
    """At most `current` runs in flight: halved on a 429, grown back by one per 20 successes."""

    def __init__(self, limit: int) -> None:
        self.limit = self.current = limit
        self._in_flight = 0
        self._successes = 0
        # Runs waiting for a slot, oldest first; a freed slot is handed to the oldest directly.
        # The loop is one thread, so no lock: an asyncio.Condition took its lock twice per run and
        # had each woken run take it again to re-check.
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if self._in_flight < self.current and not self._waiters:
            self._in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot as it was cancelled
                self._release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def rate_limited(self) -> None:
        self.current = max(1, self.current // 2)
        self._successes = 0

    def succeeded(self) -> None:
        self._successes += 1
        if self._successes >= _GROW_AFTER_SUCCESSES and self.current < self.limit:
            self.current += 1
            self._successes = 0
            self._hand_over()

    def _release(self) -> None:
        self._in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self._in_flight < self.current:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_flight += 1
                waiter.set_result(None)


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

    def __init__(self, images: ImageReader, capacity: int = 512) -> None:
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


@dataclass(frozen=True)
class EntryRange:
    """Entries after `after` up to `last` inclusive, in id order (None: from the first / to the end)."""

    after: str | None = None
    last: str | None = None


class ExperimentStopped(Exception):
    """A shard stopped before all its runs were done (its share of the budget was spent)."""


class ExperimentCancelled(ExperimentStopped):
    """The experiment was cancelled: no run started after the runner noticed; `runs` are the ones
    this shard finished (stored)."""

    def __init__(self, runs: list[RunRecord]) -> None:
        super().__init__(f"cancelled after {len(runs)} runs")
        self.runs = runs


class OutOfTime(Exception):
    """A shard's delivery used its time budget: the runs not started are left for the next one."""


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
        experiments: ExperimentTracker,
        datasets: DatasetReader,
        images: ImageReader,
    ) -> None:
        self._settings = settings
        self._experiments = experiments
        self._datasets = datasets
        self._images = images
        self._call_rate = CallRate(settings.model_calls_per_second)

    async def run_range(
        self,
        experiment_id: str,
        entries: EntryRange,
        *,
        budget_usd: float | None,
        stop_starting_at: float | None = None,
    ) -> list[RunRecord]:
        """Do the runs of one shard (its entries, every variant and repetition) not yet succeeded;
        the experiment is summarised apart, when its last shard lands (`completion.py`).
        No run starts after `stop_starting_at` (time.monotonic()): OutOfTime when some were left."""
        experiment = self._experiments.get(experiment_id)
        succeeded = self._experiments.finished_run_ids(experiment_id, succeeded_only=True)
        finished, reason, left = await self._execute(experiment, succeeded, entries, budget_usd, stop_starting_at)
        if reason == _CANCELLED:
            raise ExperimentCancelled(finished)
        if reason:
            raise ExperimentStopped(reason)
        if left:
            raise OutOfTime(f"{len(finished)} runs done, {left} left for the next delivery")
        return finished

    async def _execute(
        self,
        experiment: ExperimentRecord,
        succeeded: set[str],
        entries: EntryRange,
        budget_usd: float | None,
        stop_starting_at: float | None,
    ) -> tuple[list[RunRecord], str | None, int]:
        experiment_id = experiment.experiment_id
        now = datetime.now(UTC)
        started = self._experiments.update_unless_cancelled(
            experiment_id,
            {
                "status": "running",
                "status_reason": None,
                "started_at": experiment.started_at or now,
                "heartbeat_at": now,
            },
        )
        if not started:
            return [], _CANCELLED, 0
        models = {v.name: get_model_client(v.model, self._settings) for v in experiment.variants}
        # Resolved once per shard, the runs read no Firestore for it. Stored variants name `name@n`
        # (an experiment stored before prompts had versions names the bare name: its version 1).
        prompts = {v.name: get_prompt(as_stored(v.prompt_version)) for v in experiment.variants}
        evaluators = [create_evaluator(e["name"], e.get("params")) for e in experiment.evaluators]
        writer = RunWriter(self._experiments, experiment, self._settings).start()
        limiter = AdaptiveLimiter(experiment.concurrency)
        images = _ImageCache(self._images)
        spent = {"usd": 0.0}
        reason: str | None = None
        finished: list[RunRecord] = []
        left = 0

        cancelled = asyncio.Event()

        async def watch_for_cancel() -> None:
            while not cancelled.is_set():
                await asyncio.sleep(CANCEL_POLL_S)
                try:
                    current = await asyncio.to_thread(self._experiments.get, experiment_id)
                except Exception:  # a missed look is harmless: the next one comes soon
                    logger.warning("could not re-read experiment %s", experiment_id, exc_info=True)
                    continue
                if current.status == "cancelled":
                    cancelled.set()

        def may_start() -> bool:
            # Asked once a run holds a slot: every run is queued from the start, so asking before
            # would let them all through.
            nonlocal reason, left
            if cancelled.is_set():
                reason = _CANCELLED
                return False
            if budget_usd is not None and spent["usd"] >= budget_usd:
                reason = f"stopped: the budget of ${budget_usd:.2f} was spent"
                return False
            if stop_starting_at is not None and time.monotonic() >= stop_starting_at:
                left += 1
                return False
            return True

        async def one(job: _Job) -> None:
            arm = job.variant.name
            run = await self._run_one(
                experiment, job, models[arm], prompts[arm], evaluators, limiter, images, may_start
            )
            if run is None:
                return
            spent["usd"] += (
                estimated_cost_usd(job.variant.model, run.usage.input_tokens, run.usage.output_tokens) or 0.0
            ) + evaluations_cost_usd(run.evaluations)  # judges' calls are paid from the same budget
            finished.append(run)
            writer.put(run)

        # The summary needs numpy and scipy, about a second to import in a fresh worker: load them
        # while the model calls wait rather than after the last run.
        summary_ready = asyncio.ensure_future(asyncio.to_thread(importlib.import_module, "shared.experiments.analysis"))
        watching = asyncio.ensure_future(watch_for_cancel())
        try:
            await asyncio.gather(
                *[asyncio.ensure_future(one(job)) async for job in self._jobs(experiment, succeeded, entries)]
            )
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            writer.close()
            await summary_ready
        return finished, reason, left

    async def _jobs(
        self, experiment: ExperimentRecord, succeeded: set[str], entries: EntryRange
    ) -> AsyncIterator[_Job]:
        """The runs still to do, page by page: the first runs start while later entries are read
        (a published version's snapshot comes in chunks of about 800 entries; without one,
        reading 1,000 entry documents took about 0.4 s before any model call could start)."""
        pages = self._datasets.pages(
            experiment.dataset_name,
            experiment.dataset_version,
            after=entries.after,
            last=entries.last,
            page_size=max(32, 2 * experiment.concurrency),
        )
        order = random.Random(experiment.experiment_id)
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            jobs = [
                _Job(entry, variant, repetition)
                for repetition in range(experiment.repetitions)
                for entry in page
                for variant in experiment.variants
                if run_id(entry.id, variant.name, repetition) not in succeeded
            ]
            # Random order (seeded by the experiment): no variant always runs first, so the order of
            # submission cannot pass for a difference between variants (latency above all).
            order.shuffle(jobs)
            for job in jobs:
                yield job

    async def _run_one(
        self,
        experiment: ExperimentRecord,
        job: _Job,
        model: ModelClient,
        prompt: Prompt,
        evaluators: list[Evaluator],
        limiter: AdaptiveLimiter,
        images: _ImageCache,
        may_start: Callable[[], bool],
    ) -> RunRecord | None:
        tags = {
            "experiment": experiment.name,
            "experiment_id": experiment.experiment_id,
            "variant": job.variant.name,
            "prompt_version": prompt.version,
            "rag_enabled": "false",
            "model": job.variant.model,
            "entry_id": job.entry.id,
            "repetition": str(job.repetition),
            "created_by": experiment.created_by or "",
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
            if not may_start():
                return None
            started = time.perf_counter()  # the run's clock starts when it gets a slot
            deadline = started + experiment.run_timeout_s
            try:
                image = await images.get(job.entry.input.image_uri)
            except Exception as error:  # a missing image fails this run, not the experiment
                failure = ModelUnavailable(f"the entry's image could not be read: {error}")
                image = b""
            model_params, wants_docs = split_prompt_params(job.variant.params)
            variables = {REFERENCE_DOCS: job.entry.reference_docs} if wants_docs and job.entry.reference_docs else {}
            tags["rag_enabled"] = "true" if variables else "false"
            request = ModelRequest(
                image=image,
                content_type=job.entry.input.content_type,
                prompt=prompt,
                params=model_params,
                variables=variables,
            )
            while failure is None:
                attempts += 1
                await self._call_rate.wait()
                remaining = deadline - time.perf_counter()
                with llmobs.capture_llm_span(tags=tags, prompt=prompt.annotation(variables)) as captured:
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
            input={
                "image_uri": job.entry.input.image_uri,
                "reference_docs": job.entry.reference_docs,
                "image": image,  # the bytes the model read: `cross_check` reads them again
                "content_type": job.entry.input.content_type,
            },
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
            prompt_version=prompt.version,
            rag_enabled=bool(variables),
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
