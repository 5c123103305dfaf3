"""What handing spans and evaluations to Datadog costs per request (the extract path's flush).

A Cloud Function's CPU is throttled once it has answered, so `extract` flushes LLM Observability
before answering. This measures that flush for one request's worth of telemetry (a workflow
span, an llm span, four evaluations, delivery confirmed) against Datadog's test agent, and the
same with the agent down (an outage: the request must still answer, evaluations stay pending).

    python -m bench.llmobs_flush [--requests 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import describe_machine
from infra.local.emulators import free_ports, start_test_agent


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _one_request(index: int, *, flush: bool) -> tuple[float, float, int]:
    """(seconds to create the spans, seconds to flush and confirm, evaluations accepted)."""
    from ddtrace.llmobs import LLMObs

    from shared.models import EvaluationSubmission
    from shared.observability import llmobs
    from shared.observability.evaluation_delivery import deliver

    started = time.perf_counter()
    with llmobs.workflow_span("extract", tags={"bench": "flush"}):
        with LLMObs.llm(model_name="tesseract", model_provider="tesseract-ocr", name="extract_votes") as span:
            LLMObs.annotate(span, input_data="form", output_data='{"vote_results": []}')
            exported = LLMObs.export_span(span)
    spans_done = time.perf_counter()
    if not flush:
        return spans_done - started, 0.0, 0
    now = datetime.now(UTC)
    submissions = [
        EvaluationSubmission(
            evaluation_id=f"bench-{os.getpid()}-{index}-{label}",
            label=label,
            metric_type="score",
            value=1.0,
            span_id=exported["span_id"],
            trace_id=exported["trace_id"],
            timestamp_ms=int(now.timestamp() * 1000),
            source_kind="bench",
            source_id=str(index),
            created_at=now,
        )
        for label in ("extraction_quality", "output_classification", "consistency", "schema_valid")
    ]
    accepted = deliver(submissions, timeout_s=5.0)
    return spans_done - started, time.perf_counter() - spans_done, len(accepted)


def _measure(requests: int, *, flush: bool) -> dict[str, float]:
    span_times, flush_times, accepted = [], [], 0
    for index in range(requests):
        span_s, flush_s, ok = _one_request(index, flush=flush)
        span_times.append(span_s * 1000)
        flush_times.append(flush_s * 1000)
        accepted += ok
    return {
        "spans_p50_ms": statistics.median(span_times),
        "flush_p50_ms": statistics.median(flush_times),
        "flush_p95_ms": _percentile(flush_times, 0.95),
        "flush_max_ms": max(flush_times),
        "accepted_share": accepted / (4 * requests) if flush else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    port, otlp_http, otlp_grpc = free_ports(3)
    os.environ.update({"DD_TRACE_AGENT_URL": f"http://127.0.0.1:{port}", "DD_APM_TRACING_ENABLED": "false"})
    agent = start_test_agent(port, Path(tempfile.mkdtemp()), otlp_http_port=otlp_http, otlp_grpc_port=otlp_grpc)
    from shared.config import Settings
    from shared.observability.llmobs import enable_llmobs

    enable_llmobs(Settings())
    try:
        _measure(20, flush=True)  # warm-up: connections, imports
        rows = {
            "spans only, no flush": _measure(args.requests, flush=False),
            "flush + confirm, agent up": _measure(args.requests, flush=True),
        }
    finally:
        agent.stop()
    rows["flush + confirm, agent DOWN"] = _measure(max(10, args.requests // 10), flush=True)

    print(describe_machine())
    header = ("condition", "spans p50", "flush p50", "flush p95", "flush max", "accepted")
    print(f"{header[0]:30s} " + " ".join(f"{h:>10s}" for h in header[1:]))
    for name, row in rows.items():
        print(
            f"{name:30s} {row['spans_p50_ms']:8.2f}ms {row['flush_p50_ms']:8.1f}ms {row['flush_p95_ms']:8.1f}ms "
            f"{row['flush_max_ms']:8.1f}ms {100 * row['accepted_share']:8.0f}%"
        )


if __name__ == "__main__":
    main()
