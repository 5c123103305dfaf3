"""One reading of a form, the way extract (online) and the experiment runner (offline) both make it.

`FormReader.read` calls a model once per attempt inside its llm span, tagged as it starts, with
the prompt annotation; retries within a deadline under a `RetryPolicy`; and, when asked, makes the
cross check's second reading beside the primary call, joined before it returns. `evaluate` is the
one evaluation step after a reading. The answer is a `Reading`: output, raw answer, error, usage,
latency and the llm span it made, handed back rather than left in a context variable.

The reading is async (the runner's event loop); extract, a sync handler, runs the same coroutine
on this process's reading loop (`run_blocking`), in a copy of its context so the spans join its
trace, and so that a model's HTTP sessions live as long as the instance.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import random
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from shared.config import Settings
from shared.errors import ModelError, ModelRateLimited, ModelTimeout, ModelUnavailable
from shared.evaluation import EvaluatorContext, run_evaluators
from shared.evaluation.base import Evaluator
from shared.evaluation.matching import match_candidates
from shared.llm import ModelClient, ModelRequest, ModelResponse
from shared.llm.second_reader import SecondReading, choose_second_reader, read_again
from shared.models import Evaluation, FieldBoxes, SpanRef, TokenUsage, VoteExtraction
from shared.observability import llmobs

T = TypeVar("T")

# Errors an adapter raises after its own transport retries that another attempt may still cure.
_RETRYABLE_UNAVAILABLE = frozenset({"model_unavailable", "model_bad_response"})


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts beyond the adapter's own (Gemini's client already retried 408/429/5xx inside one
    attempt): a rate limit backs off and tries again while the deadline allows; an unavailable or
    garbled answer is tried again up to `attempts` in all. One attempt: no retry of ours."""

    attempts: int = 1
    rate_limits_until_deadline: bool = False  # a 429 is tried again, however often, until the deadline
    max_backoff_s: float = 8.0


# Online a person waits: the adapter's retries are the only ones. An experiment waits out its
# quota (its pacing halves the concurrency on each 429) until each run's deadline.
ONLINE_RETRIES = RetryPolicy(attempts=1)
EXPERIMENT_RETRIES = RetryPolicy(attempts=5, rate_limits_until_deadline=True)


class Pacing(Protocol):
    """How a caller shares the model's quota between its readings (the runner's adaptive limit
    and call rate); online there is none."""

    async def wait(self) -> None: ...

    def rate_limited(self) -> None: ...

    def succeeded(self) -> None: ...


class _Unpaced:
    async def wait(self) -> None:
        return None

    def rate_limited(self) -> None:
        return None

    def succeeded(self) -> None:
        return None


@dataclass(frozen=True)
class Reading:
    """What one reading produced: the model's answer or its error, and how it went."""

    response: ModelResponse | None
    error: ModelError | None
    latency_ms: float
    attempts: int
    span: SpanRef | None
    second: SecondReading | None = None

    @property
    def output(self) -> VoteExtraction | None:
        return self.response.extraction if self.response else None

    @property
    def raw_output(self) -> str | None:
        if self.response is not None:
            return self.response.raw_output
        details = self.error.details if self.error else None
        return details.get("raw_output") if isinstance(details, dict) else None

    @property
    def boxes(self) -> FieldBoxes:
        """Where each count of the output was read: the model's box, else the second reading's
        (its rows paired with the output's by candidate name, as the cross check pairs them)."""
        if self.response is None:
            return {}
        boxes = dict(self.response.boxes)
        second = self.second
        if second is None or second.extraction is None or not second.boxes:
            return boxes
        for path, box in second.boxes.items():
            if not path.startswith("vote_results["):
                boxes.setdefault(path, box)
        theirs = {id(row): index for index, row in enumerate(second.extraction.vote_results)}
        pairs = match_candidates(second.extraction.vote_results, self.response.extraction.vote_results)
        for index, (_, other) in enumerate(pairs):
            found = second.boxes.get(f"vote_results[{theirs[id(other)]}].vote_count") if other is not None else None
            if found is not None:
                boxes.setdefault(f"vote_results[{index}].vote_count", found)
        return boxes

    @property
    def error_message(self) -> str | None:
        return self.error.message if self.error else None

    @property
    def usage(self) -> TokenUsage:
        return self.response.usage if self.response else TokenUsage()

    @property
    def status(self) -> Literal["succeeded", "failed"]:
        return "succeeded" if self.response else "failed"


_PRIMARY_SPAN_WAIT_S = 5.0  # a primary call that opens no span by then: the second reading goes alone


class _PrimarySpan:
    """The primary reading's llm span as it starts (its first attempt's), for the second reading."""

    def __init__(self) -> None:
        self._ref: SpanRef | None = None
        self._known = threading.Event()

    def started(self, ref: SpanRef | None) -> None:
        if not self._known.is_set():
            self._ref = ref
            self._known.set()

    def wait(self, timeout_s: float) -> SpanRef | None:
        if not llmobs.llmobs_enabled():
            return None
        self._known.wait(timeout_s)
        return self._ref


def reading_tags(model: str, request: ModelRequest, **context: str) -> dict[str, str]:
    """The tags of a reading's spans and evaluations: who asked (`context`: the extraction, or the
    experiment, variant, entry and repetition; `created_by`), and what read what paper with what
    (`form_type`, so Datadog can slice quality by paper)."""
    return {
        **context,
        "model": model,
        "prompt_version": request.prompt.version,
        "rag_enabled": "true" if request.variables else "false",
        "form_type": request.form_type.ref,
    }


class FormReader:
    """Reads forms with a model; one instance per process or shard, safe to share across readings."""

    def __init__(self, *, settings: Settings) -> None:
        self._settings = settings

    def online_second_reader(self, model: str, params: Mapping[str, Any]) -> str | None:
        """The second reader of an extraction when the cross check is on and samples it, else None."""
        settings = self._settings
        if settings.cross_check != "on" or random.random() >= settings.cross_check_sample_rate:
            return None
        return choose_second_reader(model, params, settings=settings)

    def second_reader_for(self, reader: str, model: str, params: Mapping[str, Any]) -> str:
        """The `cross_check` evaluator's reader in an experiment ("" chooses as online)."""
        return reader or choose_second_reader(model, params, settings=self._settings)

    async def read(
        self,
        model: ModelClient,
        request: ModelRequest,
        *,
        tags: Mapping[str, str],
        timeout_s: float | None,
        retry: RetryPolicy,
        pacing: Pacing | None = None,
        second_reader: str | None = None,
    ) -> Reading:
        """Read `request.image` with `model`; a ModelError is the Reading's error, never raised.

        `tags` (see `reading_tags`) go on every attempt's llm span as it starts, with the prompt
        annotation. The second reader, if any, reads the same bytes beside it (its span tagged the
        same plus reading:cross_check) and is joined on every way out, for at most
        CROSS_CHECK_TIMEOUT_S and never past the deadline; one still queued then is dropped, so
        a late one is the only work that can outlive the reading. `latency_ms` is the primary's.
        """
        started = time.perf_counter()
        deadline = started + timeout_s if timeout_s is not None else None
        primary = _PrimarySpan()
        second = self._start_second_reading(second_reader, request, tags, primary)
        response: ModelResponse | None = None
        try:
            response, failure, attempts, span = await self._attempts(
                model, request, tags, deadline, timeout_s, retry, pacing or _Unpaced(), primary
            )
            latency_ms = round((time.perf_counter() - started) * 1000, 1)
        finally:
            primary.started(None)  # no span came (or it came already): the second reading waits no more
            second_reading = await self._second_reading(second, deadline, wanted=response is not None)
        return Reading(response, failure, latency_ms, attempts, span, second_reading)

    async def _attempts(
        self,
        model: ModelClient,
        request: ModelRequest,
        tags: Mapping[str, str],
        deadline: float | None,
        timeout_s: float | None,
        retry: RetryPolicy,
        pace: Pacing,
        primary: _PrimarySpan,
    ) -> tuple[ModelResponse | None, ModelError | None, int, SpanRef | None]:
        prompt = request.prompt.annotation(request.variables)
        response: ModelResponse | None = None
        failure: ModelError | None = None
        attempts = 0
        span: SpanRef | None = None
        while response is None and failure is None:
            attempts += 1
            await pace.wait()
            with llmobs.capture_llm_span(tags=tags, prompt=prompt, on_start=primary.started) as captured:
                try:
                    # asyncio.timeout, not wait_for: wait_for runs the call in a task of its own.
                    async with asyncio.timeout(_remaining(deadline)):
                        response = await model.extract_async(request)
                except (TimeoutError, ModelTimeout) as error:
                    failure = _timed_out(error, timeout_s)
                except ModelRateLimited as error:
                    pace.rate_limited()
                    failure = None if await _backoff(retry, attempts, deadline, rate_limited=True) else error
                except ModelUnavailable as error:
                    retryable = error.code in _RETRYABLE_UNAVAILABLE
                    failure = None if retryable and await _backoff(retry, attempts, deadline) else error
                except ModelError as error:
                    failure = error
            span = captured.ref or span
        if response is not None:
            pace.succeeded()
        return response, failure, attempts, span

    def _start_second_reading(
        self, reader: str | None, request: ModelRequest, tags: Mapping[str, str], primary: _PrimarySpan
    ) -> tuple[str, asyncio.Future[SecondReading]] | None:
        if reader is None:
            return None
        read = functools.partial(
            read_again,
            reader,
            image=request.image,
            content_type=request.content_type,
            settings=self._settings,
            tags=tags,
            form_type=request.form_type,
        )

        def in_primary_trace() -> SecondReading:
            # Under the primary reading's llm span, so it is in that span's trace on both paths (a
            # run's llm span is its trace's root). The span starts as the call does; no wait then.
            return llmobs.call_in_trace_of(primary.wait(_PRIMARY_SPAN_WAIT_S), read)

        # Its own few threads (a subprocess or a network wait each), in a copy of the context;
        # the loop's default threads serve the primary readings.
        future = asyncio.get_running_loop().run_in_executor(
            _second_readers(), contextvars.copy_context().run, in_primary_trace
        )
        return reader, future

    async def _second_reading(
        self, pending: tuple[str, asyncio.Future[SecondReading]] | None, deadline: float | None, *, wanted: bool
    ) -> SecondReading | None:
        """The second reading, waited for at most CROSS_CHECK_TIMEOUT_S after the primary one and
        never past the deadline; dropped, if it has not started, when the primary one failed."""
        if pending is None:
            return None
        reader, future = pending
        if not wanted and future.cancel():
            return None
        timeout_s = self._settings.cross_check_timeout_s
        if deadline is not None:
            timeout_s = max(0.01, min(timeout_s, deadline - time.perf_counter()))
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            future.cancel()  # only takes when it is still queued
            return SecondReading(
                reader=reader, extraction=None, error=f"the second reading took longer than {timeout_s:.3g} s"
            )


async def evaluate(
    evaluators: Sequence[Evaluator],
    reading: Reading,
    *,
    expected: VoteExtraction | None,
    input: Mapping[str, Any],
    metadata: Mapping[str, Any],
) -> list[Evaluation]:
    """The evaluation step after a reading: the cheap evaluators inline, the ones that call a model
    or burn CPU (`runs_in_thread`) off the event loop. The second reading is in the metadata."""
    second = {"second_reading": reading.second} if reading.second is not None else {}
    context = EvaluatorContext(
        output=reading.output,
        expected=expected,
        raw_output=reading.raw_output,
        error=reading.error_message,
        input=input,
        metadata={**metadata, **second},
        span=reading.span,
    )
    evaluations = run_evaluators([e for e in evaluators if not e.runs_in_thread], context)
    threaded = [e for e in evaluators if e.runs_in_thread]
    if threaded:
        evaluations += await asyncio.to_thread(run_evaluators, threaded, context)
    return evaluations


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.01, deadline - time.perf_counter())


def _timed_out(error: Exception, timeout_s: float | None) -> ModelError:
    """The deadline's own sentence when it ran out; otherwise the adapter's timeout as it was."""
    if timeout_s is not None:
        return ModelTimeout(f"the reading took longer than {timeout_s:.0f} s")
    return error if isinstance(error, ModelTimeout) else ModelTimeout("the model did not answer in time")


async def _backoff(retry: RetryPolicy, attempt: int, deadline: float | None, *, rate_limited: bool = False) -> bool:
    """Sleep before another attempt; False when the policy or the deadline leaves none."""
    until_deadline = rate_limited and retry.rate_limits_until_deadline and deadline is not None
    if attempt >= retry.attempts and not until_deadline:
        return False
    delay = random.uniform(0.5, 1.0) * min(retry.max_backoff_s, 0.25 * 2**attempt)
    if deadline is not None and time.perf_counter() + delay >= deadline:
        return False
    await asyncio.sleep(delay)
    return True


# --- the process's reading loop, for sync callers ---------------------------------------------

_loop_lock = threading.Lock()
_loop: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
_running: set[asyncio.Task[Any]] = set()  # the loop keeps only weak references to its tasks


def _forget_loop_in_child() -> None:
    # A forked child has no loop thread (and maybe a lock held by a thread it does not have).
    global _loop, _loop_lock
    _loop, _loop_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_loop_in_child)


@functools.lru_cache(maxsize=1)
def _second_readers() -> ThreadPoolExecutor:
    """The threads second readings run in, made on first use (off the cold-start path)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="cross-check")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on this process's reading loop in a copy of the caller's context (its
    active spans), and wait for its result. Never from a coroutine: it would wait on itself."""
    if _in_a_coroutine():
        coroutine.close()
        raise RuntimeError("run_blocking waits for a thread's answer: from a coroutine, await the coroutine instead")
    loop = _reading_loop()
    context = contextvars.copy_context()
    result: Future[T] = Future()

    def settle(task: asyncio.Task[T]) -> None:
        _running.discard(task)
        if task.cancelled():
            result.cancel()
        elif (error := task.exception()) is not None:
            result.set_exception(error)
        else:
            result.set_result(task.result())

    def start() -> None:
        task = loop.create_task(coroutine, context=context)
        _running.add(task)
        task.add_done_callback(settle)

    loop.call_soon_threadsafe(start)
    return result.result()


def _in_a_coroutine() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _reading_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or not _loop[1].is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="reading-loop", daemon=True)
            thread.start()
            _loop = (loop, thread)
        return _loop[0]
