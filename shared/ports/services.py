"""What the use cases in `shared/services` need from storage: one small Protocol per need.

Each Protocol holds only the calls one use case makes (the docstring names it), so a use case
states its dependency and nothing more. The adapters are the Firestore repositories and the Cloud
Storage image store in `shared/storage`; they satisfy these Protocols structurally (no
inheritance), mypy checks that where the wiring (`shared/wiring`) builds the services, and
tests/unit/test_storage_ports.py checks the method names and parameters.

Firestore shows through where a use case joins several writes in one atomic batch (a
`WriteBatch`, a `DocumentReference`, a snapshot): that atomicity is the design (an extraction,
its review item and its evaluations are stored together or not at all), so the ports say so
rather than hide it. The experiments' ports are in `shared/ports/experiments.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.config import Settings
from shared.models import (
    Dataset,
    DatasetEntry,
    DatasetVersion,
    ExtractionRecord,
    FeedbackRecord,
    PushedDataset,
    ReviewItem,
    ReviewReason,
    StoredImage,
)
from shared.prompts.versions import PromptHead, PromptVersion

if TYPE_CHECKING:
    from google.cloud import firestore


# Images (adapter: GcsImageStore)


class ImageReader(Protocol):
    """Reads stored images (the experiments' runner and report)."""

    def get(self, uri: str) -> bytes:
        """The bytes at `uri`; InvalidField, before anything is read, for a URI outside the store."""
        ...


class ImageStore(ImageReader, Protocol):
    """Stores images once by content and describes stored ones (the extract and dataset use cases)."""

    def put(self, image: bytes, content_type: str) -> StoredImage: ...

    def describe(self, uri: str) -> StoredImage: ...


class ImageStoreWithDeletion(ImageStore, Protocol):
    """And deletes the images it stored (the extract use case, deleting an extraction)."""

    def delete(self, uri: str) -> bool: ...


# Extractions (adapter: FirestoreExtractionRepository)


class ExtractionLookup(Protocol):
    """One extraction, and its document to update in the caller's batch (the review use case)."""

    def get(self, extraction_id: str) -> ExtractionRecord: ...

    def document(self, extraction_id: str) -> firestore.DocumentReference: ...

    def count_made(
        self, *, since: datetime, until: datetime, form_type: str | None, automatic_verdict: bool | None = None
    ) -> int: ...


class ExtractionListing(ExtractionLookup, Protocol):
    """Extractions stored with their evaluations, read one at a time or a filtered page at a time
    (the extract use case)."""

    def create(
        self,
        record: ExtractionRecord,
        *,
        also: Callable[[firestore.WriteBatch], None] | None = None,
    ) -> None: ...

    def page(
        self,
        *,
        status: str | None = None,
        model: str | None = None,
        feedback: str | None = None,
        golden_candidate: bool | None = None,
        form_types: list[str] | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[ExtractionRecord]: ...


class ExtractionRemoval(ExtractionListing, Protocol):
    """And deletes one, unless it changed since it was read (the extract use case)."""

    def get_for_delete(self, extraction_id: str) -> tuple[ExtractionRecord, Any]: ...

    def others_using_image(self, image_uri: str, extraction_id: str) -> bool: ...

    def delete(self, extraction_id: str, *, unchanged_since: Any) -> bool: ...


class ExtractionsBySpan(Protocol):
    """The extraction an llm span belongs to (the feedback use case)."""

    def find_by_span(self, span_id: str) -> ExtractionRecord | None: ...


class CandidateExtractions(ExtractionsBySpan, Protocol):
    """Extractions that become dataset entries, marked once taken (the dataset use case)."""

    def get(self, extraction_id: str) -> ExtractionRecord: ...

    def golden_candidates(self, *, limit: int) -> list[ExtractionRecord]: ...

    def mark_in_dataset(self, extraction_ids: list[str], dataset_version: str) -> None: ...


# Feedback (adapter: FirestoreFeedbackRepository)


class FeedbackLog(Protocol):
    """Feedback recorded once per id with its effects, and listed per extraction (the feedback use case)."""

    def record(
        self,
        feedback: FeedbackRecord,
        *,
        also: Callable[[firestore.WriteBatch], None] | None = None,
    ) -> tuple[FeedbackRecord, bool]: ...

    def for_extraction(self, extraction_id: str) -> list[FeedbackRecord]: ...


class FeedbackRemoval(Protocol):
    """Deletes an extraction's feedback with it (the extract use case)."""

    def delete_for_extraction(self, extraction_id: str) -> int: ...


# The review queue (adapter: FirestoreReviewRepository)


class ReviewQueueProducer(Protocol):
    """Adds an item to the queue, or reasons to it, in the producer's batch (extract, feedback)."""

    def stage(
        self,
        batch: firestore.WriteBatch,
        *,
        extraction_id: str,
        reasons: Iterable[ReviewReason],
        created_at: datetime,
        model: str,
        span_id: str | None,
        trace_id: str | None,
        cross_check_fields: list[dict[str, Any]] | None = None,
        form_type: str | None = None,
        automatic_verdict: bool | None = None,
    ) -> None: ...


class ReviewQueueProducerWithRemoval(ReviewQueueProducer, Protocol):
    """And removes an extraction's item when the extraction is deleted (the extract use case)."""

    def delete(self, extraction_id: str) -> None: ...


class ReviewQueue(Protocol):
    """Items listed, counted, claimed under a lease and decided (the review use case)."""

    def document(self, extraction_id: str) -> firestore.DocumentReference: ...

    def get(self, extraction_id: str, now: datetime) -> ReviewItem: ...

    def page(
        self, *, closed: int | None, reason: ReviewReason | None, after: str | None, limit: int
    ) -> list[firestore.DocumentSnapshot]: ...

    def open_items(self) -> Iterator[dict[str, Any]]: ...

    def count_done(self, reason: ReviewReason) -> int: ...

    def decided(self, *, since: datetime | None) -> Iterator[dict[str, Any]]: ...

    def random_sample_items(self, *, since: datetime, until: datetime) -> Iterator[dict[str, Any]]: ...

    def claim_named(self, extraction_id: str, reviewer: str, fields: dict[str, Any], now: datetime) -> ReviewItem: ...

    def claim_next(
        self, reviewer: str, reason: ReviewReason | None, fields: dict[str, Any], now: datetime
    ) -> ReviewItem | None: ...

    def commit_decision(
        self, extraction_id: str, now: datetime, write: Callable[[firestore.WriteBatch, ReviewItem], None]
    ) -> None: ...

    def record_decision(self, batch: firestore.WriteBatch, item: ReviewItem, fields: dict[str, Any]) -> None: ...

    def precondition(self, item: ReviewItem) -> Any: ...


# Prompts (adapter: FirestorePromptRepository)


class PromptStore(Protocol):
    """Prompt versions and labels (the prompt registry, shared/prompts)."""

    def head(self, name: str) -> PromptHead | None: ...

    def heads(self) -> list[PromptHead]: ...

    def version(self, name: str, number: int) -> PromptVersion | None: ...

    def versions(self, name: str) -> list[PromptVersion]: ...

    def add_version(self, version: PromptVersion) -> PromptVersion:
        """Stored under the prompt's next number (unique under concurrency); returned numbered."""
        ...

    def seed(self, version: PromptVersion, labels: dict[str, int]) -> bool:
        """Create the prompt with `version` as 1 and `labels`, only if it does not exist."""
        ...

    def move_label(self, name: str, label: str, number: int, *, moved_by: str | None, at: datetime) -> PromptHead: ...


# Datasets (adapter: FirestoreDatasetRepository)


class DatasetDrafts(Protocol):
    """Adds entries to a draft version, with the caller's writes in the same batch (the review use case)."""

    def add(
        self,
        name: str,
        version: str,
        entries: list[DatasetEntry],
        *,
        also: Callable[[firestore.WriteBatch], None] | None = None,
    ) -> None: ...


class DatasetStore(DatasetDrafts, Protocol):
    """Datasets, their versions and entries, read and edited (the dataset use case)."""

    def create(self, dataset: Dataset, version: DatasetVersion) -> None: ...

    def dataset(self, name: str) -> Dataset: ...

    def list_datasets(self) -> list[tuple[Dataset, list[DatasetVersion]]]: ...

    def version(self, name: str, version: str) -> DatasetVersion: ...

    def publish(self, name: str, version: str) -> DatasetVersion: ...

    def record_datadog_push(self, name: str, version: str, fields: dict[str, Any]) -> None: ...

    def copy_version(self, name: str, source: str, target: DatasetVersion) -> None: ...

    def page(self, name: str, version: str, *, page_size: int, after: str | None) -> list[DatasetEntry]: ...

    def stream(self, name: str, version: str) -> Iterator[DatasetEntry]: ...

    def existing_ids(self, name: str, version: str, ids: Iterable[str]) -> set[str]: ...

    def entry(self, name: str, version: str, entry_id: str) -> DatasetEntry: ...

    def replace(
        self, name: str, version: str, entry_id: str, change: Callable[[DatasetEntry], DatasetEntry]
    ) -> DatasetEntry: ...

    def delete(self, name: str, version: str, entry_id: str) -> None: ...

    def delete_version(self, name: str, version: str) -> None: ...

    def delete_dataset(self, name: str) -> None: ...


class DatasetReferences(Protocol):
    """The dataset entries that still refer to an extraction or an image (deleting an extraction)."""

    def entries_from_extraction(self, extraction_id: str, *, limit: int) -> list[str]: ...

    def entries_using_image(self, image_uri: str, *, limit: int) -> list[str]: ...


# Datadog's Datasets (adapter: push_dataset, shared/observability/datadog_datasets.py)


class DatasetPush(Protocol):
    """Pushes a published version's entries to Datadog's Datasets (the dataset use case)."""

    def __call__(
        self, settings: Settings, *, dataset_name: str, description: str, entries: Iterable[DatasetEntry]
    ) -> PushedDataset: ...
