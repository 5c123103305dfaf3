"""The experiment runner: a published dataset version x variants x repetitions, async end to end.

Model calls run on one event loop with bounded concurrency; a 429 halves the concurrency (and it
grows back as calls succeed), retries back off with jitter, and each run has a deadline. Runs are
persisted and their evaluations sent to Datadog by a writer thread in batches, off the critical
path. Run ids are deterministic, so a resumed experiment does only the runs that are missing or
failed and every run exists exactly once.

Each run reads and is judged as one form type: its variant's `form_type` when it names one
(resolved when the shard starts), else the type its entry's expected output is; the run records
the resolved `name@n`.
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
from typing import Any

from shared.config import Settings
from shared.errors import ModelUnavailable
from shared.evaluation import create_evaluator
from shared.evaluation.base import Evaluator
from shared.evaluation.cross_check import CrossCheck
from shared.evaluation.judge_image import IMAGE, IMAGE_CONTENT_TYPE
from shared.evaluation.llm_judge import evaluations_cost_usd
from shared.evaluation.sink import EvaluationSink
from shared.experiments.run_writer import RunWriter
from shared.form_types.expected import entry_form_type_ref
from shared.form_types.model import FormType
from shared.form_types.resolve import FormTypes
from shared.llm import ModelClient, ModelRequest, get_model_client, params_with_prompt_settings
from shared.llm.pricing import estimated_cost_usd
from shared.models import DatasetEntry, Evaluation, ExperimentRecord, RunRecord, Variant, run_id
from shared.ports.experiments import DatasetReader, ExperimentTracker
from shared.ports.services import ImageReader
from shared.prompts import REFERENCE_DOCS, Prompt, PromptRegistry, as_stored, split_prompt_params
from shared.reading import EXPERIMENT_RETRIES, FormReader, Reading, evaluate, reading_tags

logger = logging.getLogger(__name__)

_GROW_AFTER_SUCCESSES = 20
CANCEL_POLL_S = 2.0  # how often a running shard re-reads its experiment's status for a cancel
_CANCELLED = "cancelled"


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
        evaluations: EvaluationSink,
        prompts: PromptRegistry,
        form_types: FormTypes,
    ) -> None:
        self._settings = settings
        self._form_types = form_types
        self._experiments = experiments
        self._datasets = datasets
        self._images = images
        self._evaluations = evaluations
        self._prompts = prompts
        self._call_rate = CallRate(settings.model_calls_per_second)
        self._reader = FormReader(settings=settings)

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
        finished, reason, left = await self._execute(experiment, entries, budget_usd, stop_starting_at)
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
        evaluators = [
            create_evaluator(e["name"], e.get("params"), settings=self._settings) for e in experiment.evaluators
        ]
        arms = {v.name: self._arm(v, evaluators) for v in experiment.variants}
        writer = RunWriter(self._experiments, experiment, self._evaluations).start()
        pacing = _ShardPacing(AdaptiveLimiter(experiment.concurrency), self._call_rate)
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
            arm = arms[job.variant.name]
            run = await self._run_one(experiment, job, arm, evaluators, pacing, images, may_start)
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
            await asyncio.gather(*[asyncio.ensure_future(one(job)) async for job in self._jobs(experiment, entries)])
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            writer.close()
            await summary_ready
        return finished, reason, left

    def _arm(self, variant: Variant, evaluators: list[Evaluator]) -> _Arm:
        # Resolved once per shard, the runs read no Firestore for it. Stored variants name `name@n`
        # (an experiment stored before prompts had versions names the bare name: its version 1).
        model_params, wants_docs = split_prompt_params(variant.params)
        cross_check = next((e for e in evaluators if isinstance(e, CrossCheck)), None)
        model = get_model_client(variant.model, self._settings)
        prompt = self._prompts.resolve(as_stored(variant.prompt_version))
        return _Arm(
            model=model,
            prompt=prompt,
            params=params_with_prompt_settings(model, prompt, model_params),  # the variant's params win
            wants_docs=wants_docs,
            second_reader=(
                self._reader.second_reader_for(cross_check.reader, variant.model, model_params)
                if cross_check is not None
                else None
            ),
            form_type=self._form_types.get(variant.form_type) if variant.form_type else None,
        )

    async def _form_type_of(self, entry: DatasetEntry) -> FormType:
        """The type the entry's expected output is: its stored `name@n` (an exact version, cached
        by the registry after its first read), or for an entry made before form types the built-in
        it names, else generic."""
        ref = entry_form_type_ref(entry.form_type, entry.expected_output)
        return await asyncio.to_thread(self._form_types.get, ref)

    async def _jobs(self, experiment: ExperimentRecord, entries: EntryRange) -> AsyncIterator[_Job]:
        """The runs still to do (not stored as succeeded), page by page: the first runs start while
        later entries are read (a published version's snapshot comes in chunks of about 800
        entries; without one, reading 1,000 entry documents took about 0.4 s before any model call
        could start). Only the page's own runs are looked up: a shard's start never reads the
        experiment's other runs."""
        pages = self._datasets.pages(
            experiment.dataset_name,
            experiment.dataset_version,
            after=entries.after,
            last=entries.last,
            page_size=max(32, 2 * experiment.concurrency),
        )
        order = random.Random(experiment.experiment_id)
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            candidates = {
                run_id(entry.id, variant.name, repetition): _Job(entry, variant, repetition)
                for repetition in range(experiment.repetitions)
                for entry in page
                for variant in experiment.variants
            }
            succeeded = await asyncio.to_thread(
                self._experiments.succeeded_run_ids, experiment.experiment_id, list(candidates)
            )
            jobs = [job for key, job in candidates.items() if key not in succeeded]
            # Random order (seeded by the experiment): no variant always runs first, so the order of
            # submission cannot pass for a difference between variants (latency above all).
            order.shuffle(jobs)
            for job in jobs:
                yield job

    async def _run_one(
        self,
        experiment: ExperimentRecord,
        job: _Job,
        arm: _Arm,
        evaluators: list[Evaluator],
        pacing: _ShardPacing,
        images: _ImageCache,
        may_start: Callable[[], bool],
    ) -> RunRecord | None:
        # The run's span is its llm span, tagged with experiment, variant and prompt_version (the
        # guide's 3.5). Only the image read and the reading hold a slot: evaluating and recording
        # a run must not keep the model waiting.
        async with pacing.limiter:
            if not may_start():
                return None
            form_type = arm.form_type or await self._form_type_of(job.entry)
            request, unreadable = await _request(job, arm, images, form_type)
            reading = unreadable or await self._reader.read(
                arm.model,
                request,
                tags=_run_tags(experiment, job, request),
                timeout_s=experiment.run_timeout_s,
                retry=EXPERIMENT_RETRIES,
                pacing=pacing,
                second_reader=arm.second_reader,
            )
        evaluations = await evaluate(
            evaluators,
            reading,
            expected=job.entry.expected_output,
            input={
                "image_uri": job.entry.input.image_uri,
                "reference_docs": job.entry.reference_docs,
                IMAGE: request.image,  # for a judge that sees the form (`sees_image`)
                IMAGE_CONTENT_TYPE: request.content_type,
            },
            metadata={
                "variant": job.variant.name,
                "model": job.variant.model,
                "params": request.params,
                "form_type": request.form_type,
            },
        )
        return _run_record(job, request, reading, evaluations)


@dataclass(frozen=True)
class _Arm:
    """A variant as its runs need it: the model client, the resolved prompt, the params the model
    takes (the prompt version's model settings under the variant's params), whether the prompt gets
    the entry's reference documents, the second reader, and the form type it reads every entry as
    (None: each entry's own)."""

    model: ModelClient
    prompt: Prompt
    params: dict[str, Any]
    wants_docs: bool
    second_reader: str | None
    form_type: FormType | None


class _ShardPacing:
    """The shard's adaptive limit and the process's call rate, as the reading pipeline's pacing."""

    def __init__(self, limiter: AdaptiveLimiter, call_rate: CallRate) -> None:
        self.limiter = limiter
        self._call_rate = call_rate

    async def wait(self) -> None:
        await self._call_rate.wait()

    def rate_limited(self) -> None:
        self.limiter.rate_limited()

    def succeeded(self) -> None:
        self.limiter.succeeded()


async def _request(
    job: _Job, arm: _Arm, images: _ImageCache, form_type: FormType
) -> tuple[ModelRequest, Reading | None]:
    """The run's model request; with a failed Reading when the entry's image cannot be read (that
    fails this run, not the experiment)."""
    variables = {REFERENCE_DOCS: job.entry.reference_docs} if arm.wants_docs and job.entry.reference_docs else {}
    failed: Reading | None = None
    try:
        image = await images.get(job.entry.input.image_uri)
    except Exception as error:
        image = b""
        failed = Reading(None, ModelUnavailable(f"the entry's image could not be read: {error}"), 0.0, 0, None)
    content_type = job.entry.input.content_type
    request = ModelRequest(
        image=image,
        content_type=content_type,
        prompt=arm.prompt,
        params=arm.params,
        variables=variables,
        form_type=form_type,
    )
    return request, failed


def _run_tags(experiment: ExperimentRecord, job: _Job, request: ModelRequest) -> dict[str, str]:
    return reading_tags(
        job.variant.model,
        request,
        experiment=experiment.name,
        experiment_id=experiment.experiment_id,
        variant=job.variant.name,
        entry_id=job.entry.id,
        repetition=str(job.repetition),
        created_by=experiment.created_by or "",
    )


def _run_record(job: _Job, request: ModelRequest, reading: Reading, evaluations: list[Evaluation]) -> RunRecord:
    return RunRecord(
        run_id=run_id(job.entry.id, job.variant.name, job.repetition),
        entry_id=job.entry.id,
        variant=job.variant.name,
        repetition=job.repetition,
        image_uri=job.entry.input.image_uri,
        prompt_version=request.prompt.version,
        rag_enabled=bool(request.variables),
        form_type=request.form_type.ref,
        status=reading.status,
        output=reading.output,
        error=reading.error_message,
        error_code=reading.error.code if reading.error else None,
        latency_ms=reading.latency_ms,
        usage=reading.usage,
        attempts=reading.attempts,
        trace_id=reading.span.trace_id if reading.span else None,
        span_id=reading.span.span_id if reading.span else None,
        evaluations=evaluations,
        finished_at=datetime.now(UTC),
    )
