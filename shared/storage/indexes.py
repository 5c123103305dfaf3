"""Every Firestore composite index the queries in `shared/` need, declared in one place.

A query that filters or orders on two or more fields needs a composite index in production (the
emulator serves any query, so tests alone would not notice). `infra/terraform/firestore.tf`
creates exactly these, and `tests/deploy/test_firestore_indexes.py` checks both directions:
every multi-field query in `shared/` is covered by an entry here, and Terraform matches this
list. Adding a query: add its index here and the `google_firestore_index` block the test prints.

Equality filters combined with one order are served by Firestore merging the one-equality
indexes (field, then the same order) instead of one index per combination ("index merging"):
the listings below declare one index per filter field, and the check counts a query with only
equality filters as covered when every one of its fields has such an index.

A collection-group query needs a collection-group index even on one field: Firestore makes
single-field indexes for collection scope only, so each such field is declared in
SINGLE_FIELD_OVERRIDES (a `google_firestore_field` in Terraform; the same test checks them).

Fields are listed as Firestore stores them: equality filters first (ascending), then the
ordered fields (`order_by`, then range filters) with their direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Order = Literal["ASCENDING", "DESCENDING"]


@dataclass(frozen=True)
class IndexField:
    path: str
    order: Order = "ASCENDING"


@dataclass(frozen=True)
class CompositeIndex:
    collection: str  # the collection id (a subcollection's own id, e.g. "runs")
    fields: tuple[IndexField, ...]
    query_scope: Literal["COLLECTION", "COLLECTION_GROUP"] = "COLLECTION"


def asc(path: str) -> IndexField:
    return IndexField(path, "ASCENDING")


def desc(path: str) -> IndexField:
    return IndexField(path, "DESCENDING")


COMPOSITE_INDEXES: tuple[CompositeIndex, ...] = (
    # extractions.golden_candidates: approved candidates not yet in a dataset.
    CompositeIndex("extractions", (asc("golden_candidate"), asc("in_dataset"))),
    # feedback.counts_since: thumbs-down feedback since a time (negative-feedback rate alert).
    CompositeIndex("feedback", (asc("feedback_type"), asc("created_at"))),
    # alerts.recent(schedule_id=...): a schedule's newest alerts first.
    CompositeIndex("alerts", (asc("schedule_id"), desc("created_at"))),
    # extractions.page (GET /extract): each filter newest first; combinations merge these.
    *(
        CompositeIndex("extractions", (asc(field), desc("created_at")))
        for field in (
            "status",
            "model",
            "golden_candidate",
            "has_thumbs_down",
            "has_thumbs_up",
            "corrected",
            "has_feedback",
            "form_type",
        )
    ),
    # experiments.listing (GET /experiments): each filter newest first; combinations merge these.
    *(
        CompositeIndex("experiments", (asc(field), desc("created_at")))
        for field in ("dataset_name", "status", "schedule_id")
    ),
    # review.page / scan_open / count_done / open_items (the review queue, oldest first): each
    # filter by created_at; `closed` with a reason merges these.
    *(
        CompositeIndex("review_items", (asc(field), asc("created_at")))
        for field in (
            "closed",
            "reason_flags.golden_candidate",
            "reason_flags.thumbs_down",
            "reason_flags.consistency_failed",
            "reason_flags.classification_low",
            "reason_flags.cross_check",
            "reason_flags.random_sample",  # also review.random_sample_items (production accuracy), in a window
        )
    ),
    # extractions.count_made (production accuracy): a window's extractions, by form type and by
    # automatic verdict, counted with aggregation queries.
    CompositeIndex("extractions", (asc("form_type"), asc("created_at"))),
    CompositeIndex("extractions", (asc("automatic_verdict"), asc("created_at"))),
    CompositeIndex("extractions", (asc("automatic_verdict"), asc("form_type"), asc("created_at"))),
    # review.decided(since=...): decided items since a time (GET /datasets/review/agreement).
    CompositeIndex("review_items", (asc("closed"), asc("decided_at"))),
)


@dataclass(frozen=True)
class FieldOverride:
    """A single-field index Firestore does not make by itself: one in collection-group scope."""

    collection: str  # the collection id, every collection of that id being the group
    field: str
    order: Order = "ASCENDING"
    query_scope: Literal["COLLECTION_GROUP"] = "COLLECTION_GROUP"


SINGLE_FIELD_OVERRIDES: tuple[FieldOverride, ...] = (
    # datasets.entries_from_extraction (DELETE /extract/{id}: 409 while an entry was made from it).
    FieldOverride("entries", "source.extraction_id"),
    # datasets.entries_using_image (DELETE /extract/{id}: its image stays while an entry uses it).
    FieldOverride("entries", "input.image_uri"),
)

# Fields kept out of every index (a `google_firestore_field` with an empty index_config): large
# values no query looks at, which would otherwise be indexed on every write.
INDEX_EXEMPTIONS: tuple[tuple[str, str], ...] = (
    # dataset_snapshots: a chunk's entries, up to 900 KB of JSON; chunks are found by last_id.
    ("snapshot", "entries"),
)
