"""How the google-genai client is built: API key or Vertex AI, base URL, timeout and retries.

One `genai.Client` per distinct configuration is built on first use and reused (building one
costs tens of milliseconds). API-key mode talks to the Gemini API, Vertex AI mode
(`GEMINI_USE_VERTEX=true`) to Vertex AI with Application Default Credentials;
`GEMINI_BASE_URL` points either at another endpoint (tests use a local server).

google-genai retries 408/429/500/502/503/504 and connection failures itself (typed
`HttpRetryOptions` from settings); the timeout (`GEMINI_TIMEOUT_S`) applies to each attempt.
The REST path (`shared.llm.gemini.rest`) retries with the same policy through `retry_delay`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import lru_cache

from google import genai
from google.genai import types

from shared.config import Settings

RETRYABLE_STATUS_CODES = (408, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class ClientOptions:
    """The settings a `genai.Client` is built from: the key of the client cache."""

    api_key: str = field(repr=False)
    use_vertex: bool
    project: str
    location: str
    base_url: str
    timeout_ms: int
    retry_attempts: int
    retry_initial_delay_s: float
    retry_max_delay_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientOptions:
        return cls(
            api_key=settings.gemini_api_key,
            use_vertex=settings.gemini_use_vertex,
            project=settings.gcp_project,
            location=settings.gemini_location,
            base_url=settings.gemini_base_url,
            timeout_ms=max(1, round(settings.gemini_timeout_s * 1000)),
            retry_attempts=max(1, settings.gemini_retry_attempts),
            retry_initial_delay_s=settings.gemini_retry_initial_delay_s,
            retry_max_delay_s=settings.gemini_retry_max_delay_s,
        )

    @property
    def timeout_s(self) -> float:
        return self.timeout_ms / 1000


@lru_cache(maxsize=8)
def build_client(options: ClientOptions) -> genai.Client:
    """The cached google-genai client for `options`; ValueError when API-key mode has no key."""
    retry_options = types.HttpRetryOptions(
        attempts=options.retry_attempts,
        initial_delay=options.retry_initial_delay_s,
        max_delay=options.retry_max_delay_s,
        # google-genai's default jitter adds up to 1 s to every wait; scale it with the delay
        # so that short configured delays stay short.
        jitter=_jitter_s(options),
        http_status_codes=list(RETRYABLE_STATUS_CODES),
    )
    http_options = types.HttpOptions(
        base_url=options.base_url or None, timeout=options.timeout_ms, retry_options=retry_options
    )
    if options.use_vertex:
        return genai.Client(
            vertexai=True, project=options.project, location=options.location, http_options=http_options
        )
    return genai.Client(api_key=options.api_key or None, http_options=http_options)


def genai_client(settings: Settings) -> genai.Client:
    """The google-genai client the extract path uses, for other callers such as Ragas judges.

    Same endpoint, retries, timeout and API-key or Vertex AI mode as `GeminiModel`, and the same
    cached instance.

    Args:
        settings: the Gemini settings (`GEMINI_*`, `GCP_PROJECT`).

    Raises:
        ValueError: API-key mode without `GEMINI_API_KEY` (google-genai's own message).
    """
    return build_client(ClientOptions.from_settings(settings))


def clear_client_cache() -> None:
    """Forget the cached clients (tests that change credentials between cases)."""
    build_client.cache_clear()


def retry_delay(options: ClientOptions, attempt: int, *, at_least_s: float | None = None) -> float:
    """tenacity's wait_exponential_jitter with the settings `build_client` gives google-genai, and
    no shorter than what the server asked for (`at_least_s`, itself capped at the longest delay)."""
    delay = min(options.retry_max_delay_s, options.retry_initial_delay_s * 2 ** (attempt - 1))
    if at_least_s is not None:
        delay = max(delay, min(options.retry_max_delay_s, at_least_s))
    return delay + random.uniform(0, _jitter_s(options))


_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def server_retry_delay(retry_after: str | None, body: bytes) -> float | None:
    """Seconds a 429 asks the client to wait: its `Retry-After` header (seconds), else the
    `retryDelay` ("12s") of a RetryInfo in Gemini's error details; None when it says nothing."""
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass  # an HTTP date: Gemini sends seconds; fall back to the body
    try:
        details = json.loads(body)["error"]["details"]
        for detail in details:
            if detail.get("@type") == _RETRY_INFO:
                return max(0.0, float(str(detail["retryDelay"]).removesuffix("s")))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def _jitter_s(options: ClientOptions) -> float:
    return min(1.0, options.retry_initial_delay_s)
