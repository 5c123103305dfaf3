"""A published dataset version pushed to Datadog's own Datasets (LLM Observability > Datasets),
with ddtrace's `LLMObs.create_dataset`, so Datadog-side experiments can use it too.

Needs DD_APP_KEY beside DD_API_KEY (Datadog's datasets API takes both). A record is the entry's
input (its image URI, content type and reference text), its expected output, and its id, tags and
source as metadata; images stay in Cloud Storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.config import Settings
from shared.errors import Conflict, VoteExtractorError
from shared.models import DatasetEntry, PushedDataset
from shared.observability import llmobs


class DatadogUnavailable(VoteExtractorError):
    """Datadog did not take the dataset (down, refused the keys): the client's request was fine."""

    status, code = 502, "datadog_unavailable"


def datadog_record(entry: DatasetEntry) -> dict[str, Any]:
    return {
        "input_data": {
            "image_uri": entry.input.image_uri,
            "content_type": entry.input.content_type,
            "reference_docs": entry.reference_docs,
        },
        "expected_output": entry.expected_output.model_dump(mode="json"),
        "metadata": {
            "entry_id": entry.id,
            "tags": entry.tags,
            "validated": entry.validated,
            "source": entry.source.kind,
        },
    }


def push_dataset(
    settings: Settings, *, dataset_name: str, description: str, entries: Iterable[DatasetEntry]
) -> PushedDataset:
    if not settings.dd_app_key:
        raise Conflict(
            "Pushing to Datadog's Datasets needs DD_APP_KEY (and DD_API_KEY) in this deployment.",
            code="datadog_not_configured",
        )
    if not llmobs.enable_llmobs(settings):
        raise Conflict("LLM Observability is off (LLMOBS_ENABLED=false).", code="datadog_not_configured")
    from ddtrace.llmobs import LLMObs

    records = [datadog_record(entry) for entry in entries]
    try:
        dataset = LLMObs.create_dataset(
            dataset_name=dataset_name, project_name=settings.ml_app, description=description, records=records
        )
    except Exception as error:  # ddtrace raises its own and requests' errors
        raise DatadogUnavailable(f"Datadog did not take the dataset: {type(error).__name__}: {error}") from None
    return PushedDataset(dataset_id=str(dataset._id), records=len(records), url=str(dataset.url))
