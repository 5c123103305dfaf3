"""A small client for Datadog's test agent (ddapm-test-agent): read back what ddtrace sent.

What ddtrace 4.16 sends with `LLMObs.enable(agentless_enabled=False)`, DD_TRACE_AGENT_URL at the
agent and DD_APM_TRACING_ENABLED=false (checked in tests/integration/test_local_stack.py):

- spans: POST /evp_proxy/v2/api/v2/llmobs, `Content-Type: application/json`, no compression;
  the body is a JSON list of envelopes `{"event_type": "span", "_dd.stage": "raw", "spans": [...]}`.
  Each span has `span_id` and `trace_id` (strings), `name`, `parent_id` ("undefined" at the root),
  `meta.span.kind` ("llm", "workflow", ...), `meta.model_name`, `meta.input`/`meta.output`,
  `tags` as a list of "key:value" strings (with `ml_app:<app>`), `status`, `start_ns`, `duration`.
- evaluations: POST /evp_proxy/v2/api/intake/llm-obs/v2/eval-metric, JSON
  `{"data": {"type": "evaluation_metric", "attributes": {"metrics": [...]}}}`; each metric has
  `label`, `metric_type`, the value under `<metric_type>_value` (e.g. `score_value`), `ml_app`,
  `join_on.span.{span_id, trace_id}` (or `join_on.tag.{key, value}`), `tags` ("key:value" list),
  `timestamp_ms`, and `assessment`/`reasoning`/`metadata` when given.

Gzip and msgpack bodies, and the v4 span path, are decoded too, in case a tracer version uses them.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

LLMOBS_SPAN_PATHS = ("/evp_proxy/v2/api/v2/llmobs", "/evp_proxy/v4/api/v2/llmobs")
EVAL_METRIC_PATHS = ("/evp_proxy/v2/api/intake/llm-obs/v2/eval-metric",)

T = TypeVar("T")


@dataclass(frozen=True)
class AgentRequest:
    """One request the test agent received, with its body decoded from base64."""

    method: str
    url: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """A header's value, case-insensitively ('' when absent)."""
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), "")

    def payload(self) -> Any:
        """The body as JSON, after gzip (by header or magic bytes) and msgpack decoding as needed."""
        body = self.body
        encoding = f"{self.header('Content-Encoding')} {self.header('Content-Type')}".lower()
        if "gzip" in encoding or body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        if "msgpack" in encoding:
            return _unpack_msgpack(body)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _unpack_msgpack(body)


def _unpack_msgpack(body: bytes) -> Any:
    import msgpack  # installed with ddtrace and ddapm-test-agent

    return msgpack.unpackb(body, raw=False, strict_map_key=False)


class TestAgent:
    """Client for a running ddapm-test-agent.

    Args:
        base_url: The agent's URL, e.g. http://127.0.0.1:8126.
        timeout: Seconds per HTTP call.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def __repr__(self) -> str:
        return f"TestAgent({self.base_url!r})"

    def clear(self) -> None:
        """Forget every request received so far."""
        response = self._session.get(f"{self.base_url}/test/session/clear", timeout=self.timeout)
        response.raise_for_status()

    def requests(self, path_prefix: str | None = None) -> list[AgentRequest]:
        """Requests received since the last clear, oldest first (optionally only under a path).

        The agent lists only the payload-carrying endpoints (traces, telemetry, LLMObs, ...).
        """
        response = self._session.get(f"{self.base_url}/test/session/requests", timeout=self.timeout)
        response.raise_for_status()
        received = []
        # The agent answers newest first.
        for item in reversed(response.json()):
            url = item.get("url", "")
            path = requests.utils.urlparse(url).path
            if path_prefix is not None and not path.startswith(path_prefix):
                continue
            received.append(
                AgentRequest(
                    method=item.get("method", ""),
                    url=url,
                    path=path,
                    headers=dict(item.get("headers") or {}),
                    body=base64.b64decode(item.get("body") or ""),
                )
            )
        return received

    def llmobs_span_events(self) -> list[dict[str, Any]]:
        """Every LLMObs span received, flattened out of its envelopes, oldest first.

        Each dict is the span as ddtrace sent it, plus `ml_app` (from the `ml_app:` tag) and
        `tag_map` (the "key:value" tags as a dict; a repeated key keeps its last value).
        """
        spans: list[dict[str, Any]] = []
        for request in self.requests():
            if request.path not in LLMOBS_SPAN_PATHS:
                continue
            payload = request.payload()
            envelopes = payload if isinstance(payload, list) else [payload]
            for envelope in envelopes:
                if not isinstance(envelope, dict):
                    continue
                for span in envelope.get("spans") or []:
                    spans.append(_with_tag_map(dict(span)))
        return spans

    def llmobs_spans(
        self,
        *,
        kind: str | None = None,
        ml_app: str | None = None,
        name: str | None = None,
        span_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """LLMObs spans filtered by span kind, ml_app, name and/or span id."""
        return [
            span
            for span in self.llmobs_span_events()
            if (kind is None or span_kind(span) == kind)
            and (ml_app is None or span.get("ml_app") == ml_app)
            and (name is None or span.get("name") == name)
            and (span_id is None or str(span.get("span_id")) == str(span_id))
        ]

    def evaluation_metrics(self) -> list[dict[str, Any]]:
        """Every evaluation metric received, oldest first.

        Each dict is the metric as ddtrace sent it, plus `value` (copied from
        `<metric_type>_value`), `span_id`/`trace_id` (from `join_on.span`, None when joined on a
        tag) and `tag_map`.
        """
        metrics: list[dict[str, Any]] = []
        for request in self.requests():
            if request.path not in EVAL_METRIC_PATHS:
                continue
            payload = request.payload()
            attributes = (payload.get("data") or {}).get("attributes") or {} if isinstance(payload, dict) else {}
            for metric in attributes.get("metrics") or []:
                metric = _with_tag_map(dict(metric))
                metric_type = metric.get("metric_type", "")
                metric["value"] = metric.get(f"{metric_type}_value")
                joined_span = (metric.get("join_on") or {}).get("span") or {}
                metric["span_id"] = joined_span.get("span_id")
                metric["trace_id"] = joined_span.get("trace_id")
                metrics.append(metric)
        return metrics

    def evaluations_for(self, span_id: str, label: str | None = None) -> list[dict[str, Any]]:
        """Evaluation metrics joined on `span_id` (optionally with that label)."""
        return [
            metric
            for metric in self.evaluation_metrics()
            if str(metric.get("span_id")) == str(span_id) and (label is None or metric.get("label") == label)
        ]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.1) -> T:
        """Poll until `predicate()` returns something truthy, and return that value.

        Example: `agent.wait_for(lambda: agent.llmobs_spans(kind="llm"), timeout=5)`.

        Raises:
            TimeoutError: When the deadline passes; the message lists what did arrive.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                seen = sorted({request.path for request in self.requests()})
                raise TimeoutError(
                    f"The test agent at {self.base_url} did not receive what was expected within "
                    f"{timeout:.1f} s; request paths received: {seen}"
                )
            time.sleep(interval)


def span_kind(span: dict[str, Any]) -> str | None:
    """The LLMObs span kind (`meta.span.kind`): llm, workflow, task, tool, ..."""
    return ((span.get("meta") or {}).get("span") or {}).get("kind")


def _with_tag_map(event: dict[str, Any]) -> dict[str, Any]:
    tags = event.get("tags") or []
    if isinstance(tags, dict):
        tag_map = {str(key): str(value) for key, value in tags.items()}
    else:
        tag_map = {}
        for tag in tags:
            key, _, value = str(tag).partition(":")
            tag_map[key] = value
    event["tag_map"] = tag_map
    event.setdefault("ml_app", tag_map.get("ml_app"))
    return event
