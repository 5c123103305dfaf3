"""Datadog LLM Observability (ddtrace): enabled once per instance, spans, span-id capture.

Telemetry never breaks a request: every call here logs and carries on when ddtrace fails.
Production is agentless (DD_API_KEY, DD_SITE, DD_LLMOBS_AGENTLESS_ENABLED=1); locally the
Datadog test agent at DD_TRACE_AGENT_URL receives everything.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.config import Settings
from shared.models import SpanRef

logger = logging.getLogger(__name__)

_enable_lock = threading.Lock()
_enabled = False


@dataclass
class CapturedSpan:
    """The llm span started inside `capture_llm_span()`, whoever started it."""

    span: Any = None
    started_ref: SpanRef | None = None  # exported as it started: see `ref`
    tags: Mapping[str, str] | None = None  # set on that span as it starts
    prompt: Mapping[str, Any] | None = None  # its prompt annotation, set as it starts
    on_start: Callable[[SpanRef | None], None] | None = None  # told the span's ref as it starts

    @property
    def ref(self) -> SpanRef | None:
        # Exported when it started: once a trace's root span has finished, ddtrace drops the span's
        # LLMObs data and export_span answers the APM trace id, which differs from the LLMObs trace
        # id the span was sent under (an experiment run's llm span is such a root).
        if self.started_ref is not None or self.span is None:
            return self.started_ref
        return _exported(self.span)


def _exported(span: Any) -> SpanRef | None:
    try:
        from ddtrace.llmobs import LLMObs

        exported = LLMObs.export_span(span)
    except Exception:
        logger.warning("could not export the llm span", exc_info=True)
        return None
    return SpanRef(span_id=exported["span_id"], trace_id=exported["trace_id"]) if exported else None


T = TypeVar("T")

_capture: contextvars.ContextVar[CapturedSpan | None] = contextvars.ContextVar("llm_span_capture", default=None)


def preload_llmobs(settings: Settings) -> None:
    """Import ddtrace's LLM Observability at instance start, so the first request only enables it
    (about 10 ms: the import is the cost). Enabling stays in the request path: it starts writer
    threads, which gunicorn's fork (functions-framework imports `main.py` before it forks its
    worker) would have to restart."""
    if not settings.llmobs_enabled:
        return
    try:
        _import_llmobs()
    except Exception:
        logger.exception("could not import ddtrace's LLM Observability at instance start")


def _import_llmobs() -> None:
    # ddtrace reads these when it is imported: only LLM Observability data, no APM traces; keep a
    # dead intake from stalling requests.
    os.environ.setdefault("DD_APM_TRACING_ENABLED", "false")
    os.environ.setdefault("_DD_LLMOBS_WRITER_TIMEOUT", "2")
    os.environ.setdefault("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("DD_REMOTE_CONFIGURATION_ENABLED", "false")
    # ddtrace.llmobs imports pydantic_evals when it is installed (to accept its evaluators in
    # ddtrace's experiments, which we do not run): 0.7 s of pydantic_ai, rich and griffe on this
    # machine. The functions do not ship it; the dev environment does (bench/experiment_throughput),
    # so it is held off here to import ddtrace as production does, and left importable afterwards.
    held_off = "pydantic_evals" not in sys.modules
    if held_off:
        sys.modules["pydantic_evals"] = None  # type: ignore[assignment]  # makes its import raise ImportError
    try:
        import ddtrace.llmobs  # noqa: F401
    finally:
        if held_off and sys.modules.get("pydantic_evals", ...) is None:
            del sys.modules["pydantic_evals"]


def enable_llmobs(settings: Settings) -> bool:
    """Enable LLM Observability once per process; True when it is on."""
    global _enabled
    if not settings.llmobs_enabled:
        return False
    with _enable_lock:
        if _enabled:
            return True
        try:
            _import_llmobs()
            from ddtrace import patch
            from ddtrace.internal import core
            from ddtrace.llmobs import LLMObs

            agentless = os.environ.get("DD_LLMOBS_AGENTLESS_ENABLED", "").lower() in ("1", "true")
            # agent_service is ddtrace 4.16's name for ml_app (spans are still tagged ml_app).
            # Only the google-genai integration: the others (flask, requests, ...) would add APM
            # noise and cold-start time to every function.
            LLMObs.enable(agent_service=settings.ml_app, agentless_enabled=agentless, integrations_enabled=False)
            patch(google_genai=True)
            core.on("trace.span_start", _remember_llm_span, "vote_extractor_llm_span_capture")
        except Exception:
            logger.exception("LLM Observability could not be enabled; serving without it")
            return False
        _enabled = True
        return True


def llmobs_enabled() -> bool:
    return _enabled


def _remember_llm_span(span: Any) -> None:
    holder = _capture.get()
    if holder is not None and holder.span is None and getattr(span, "span_type", None) == "llm":
        holder.span = span
        # LLMObs' own start listener, registered first, has given the span its LLMObs trace id.
        holder.started_ref = _exported(span)
        if holder.tags or holder.prompt:
            from ddtrace.llmobs import LLMObs

            # At span start ddtrace has not set the span's kind yet; tags and the prompt need none,
            # and this is how ddtrace applies its own annotation contexts (`LLMObs._do_annotations`).
            _safely(
                LLMObs.annotate,
                span=span,
                tags=dict(holder.tags or {}),
                prompt=dict(holder.prompt) if holder.prompt else None,
                _suppress_span_kind_error=True,
            )
        if holder.on_start is not None:
            _safely(holder.on_start, holder.started_ref)


@contextlib.contextmanager
def capture_llm_span(
    *,
    tags: Mapping[str, str] | None = None,
    prompt: Mapping[str, Any] | None = None,
    on_start: Callable[[SpanRef | None], None] | None = None,
) -> Iterator[CapturedSpan]:
    """Catch the first llm span started inside the block (ddtrace's integration or ours), and
    set `tags` and the `prompt` annotation on it as it starts: one annotation on the one span,
    where `annotation_context` registered and matched an annotation for every span of the block
    (about a tenth of a run's CPU in the experiment runner)."""
    holder = CapturedSpan(tags=tags, prompt=prompt, on_start=on_start)
    token = _capture.set(holder)
    try:
        yield holder
    finally:
        _capture.reset(token)


@contextlib.contextmanager
def workflow_span(name: str, *, tags: Mapping[str, str]) -> Iterator[Any]:
    """A workflow span around one request; yields the span or None when LLMObs is off."""
    if not _enabled:
        yield None
        return
    from ddtrace.llmobs import LLMObs

    with LLMObs.workflow(name=name) as span:
        _safely(LLMObs.annotate, span=span, tags=dict(tags))
        yield span


@contextlib.contextmanager
def explicit_llm_span(*, model_name: str, provider: str, name: str) -> Iterator[Any]:
    """An llm span for a model no ddtrace integration covers (the OCR model)."""
    if not _enabled:
        yield None
        return
    from ddtrace.llmobs import LLMObs

    with LLMObs.llm(model_name=model_name, model_provider=provider, name=name) as span:
        yield span


def annotate(span: Any, **fields: Any) -> None:
    """LLMObs.annotate that never raises (input_data, output_data, metadata, metrics, tags)."""
    if span is None or not _enabled:
        return
    from ddtrace.llmobs import LLMObs

    _safely(LLMObs.annotate, span=span, **fields)


def flush() -> None:
    """Hand buffered spans and evaluations to Datadog now (a Cloud Function's CPU is throttled
    once it has answered, so the background writer cannot be relied on)."""
    if not _enabled:
        return
    from ddtrace.llmobs import LLMObs

    _safely(LLMObs.flush)


def _safely(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except Exception:
        logger.warning("LLM Observability call %s failed", getattr(call, "__name__", call), exc_info=True)


@contextlib.contextmanager
def annotation_context(*, tags: Mapping[str, str], prompt: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Tags for every span started inside the block (how an integration's span gets ours), and
    the prompt annotation of its llm span (ddtrace's form: id, version, template, variables,
    rag_context_variables)."""
    if not _enabled:
        yield
        return
    from ddtrace.llmobs import LLMObs

    with LLMObs.annotation_context(tags=dict(tags), prompt=dict(prompt) if prompt else None):
        yield


def call_in_trace_of(span: SpanRef | None, call: Callable[[], T]) -> T:
    """Run `call` with `span` (a finished llm span, e.g. an experiment run's) as the parent of the
    spans it starts, so they land in the same LLMObs trace (a judge's call under the run it judges).

    The parent is activated the way a distributed trace continues (`activate_distributed_headers`,
    ddtrace's public API) inside a copy of the current context, so it never outlives the call.
    Without LLMObs, or without a span, `call` simply runs.
    """
    if span is None or not _enabled:
        return call()

    def in_trace() -> T:
        try:
            from ddtrace.llmobs import LLMObs

            trace_id = int(span.trace_id, 16)
            LLMObs.activate_distributed_headers(
                {
                    # The 128-bit trace id travels as its low 64 bits plus `_dd.p.tid` (the high ones),
                    # and the LLMObs trace id as its own tag: a finished span exports the former.
                    "x-datadog-trace-id": str(trace_id & (2**64 - 1)),
                    "x-datadog-parent-id": span.span_id,
                    "x-datadog-sampling-priority": "1",
                    "x-datadog-tags": f"_dd.p.tid={trace_id >> 64:016x},_dd.p.llmobs_parent_id={span.span_id},"
                    f"_dd.p.llmobs_trace_id={trace_id}",
                }
            )
        except Exception:
            logger.warning("could not continue the trace of span %s", span.span_id, exc_info=True)
        return call()

    return contextvars.copy_context().run(in_trace)
