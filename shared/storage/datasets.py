"""Datasets in Firestore: `datasets/{name}/versions/{version}/entries/{entry_id}`.

Reading a version touches only that version's documents. Writes to a version go through
`_write_to_draft`: the version document is read, refused if published, and updated in the same
atomic batch as the entries with a precondition that it has not changed since it was read, so a
write racing a publish (or another write) is retried, never lost and never let into a frozen
version. Images are not here: entries point at content-addressed objects in Cloud Storage.

Deleting a draft first marks its version document `deleting` (through the same guarded write, so
it cannot race a publish or an added entry); from then on the version reads as gone and takes no
writes. Its entries go in batches of 500 and the version document last, so a crash between
batches leaves a hidden, marked version that the same DELETE, repeated, finishes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.errors import Conflict, DependencyUnavailable, NotFound
from shared.models import MAX_BATCH_ENTRIES, Dataset, DatasetEntry, DatasetVersion
from shared.storage import dataset_snapshots
from shared.storage.extractions import COLLECTION as EXTRACTIONS

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "datasets"
ENTRIES = "entries"
_DELETE_BATCH = 500  # Firestore's most writes in one batch
_PAGE = 500
_ATTEMPTS = 40

logger = logging.getLogger(__name__)


class FirestoreDatasetRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._datasets = client.collection(COLLECTION)

    # references

    def _dataset_ref(self, name: str) -> firestore.DocumentReference:
        return self._datasets.document(name)

    def _version_ref(self, name: str, version: str) -> firestore.DocumentReference:
        return self._dataset_ref(name).collection("versions").document(version)

    def _entries(self, name: str, version: str) -> firestore.CollectionReference:
        return self._version_ref(name, version).collection(ENTRIES)

    # datasets and versions

    def create(self, dataset: Dataset, version: DatasetVersion) -> None:
        """A new version (409 if it exists); the dataset document is made or refreshed with it."""
        from google.api_core import exceptions

        batch = self._client.batch()
        batch.create(self._version_ref(dataset.name, version.version), version.model_dump())
        fields: dict[str, Any] = {"name": dataset.name, "updated_at": version.created_at}
        if dataset.description:
            fields["description"] = dataset.description
        if dataset.metadata:
            fields["metadata"] = dataset.metadata
        if not self._dataset_ref(dataset.name).get().exists:
            fields["created_at"] = dataset.created_at
        batch.set(self._dataset_ref(dataset.name), fields, merge=True)
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            raise Conflict(
                f"Dataset {dataset.name!r} already has a version {version.version!r}.",
                details={"name": dataset.name, "version": version.version},
            ) from None

    def dataset(self, name: str) -> Dataset:
        snapshot = self._dataset_ref(name).get()
        if not snapshot.exists:
            raise NotFound(f"No dataset {name!r}.", details={"name": name})
        return _dataset(snapshot.to_dict())

    def list_datasets(self) -> list[tuple[Dataset, list[DatasetVersion]]]:
        listed = []
        # Read to the end first: a stream lives FIRESTORE_STREAM_ATTEMPT_S (shared.deadlines).
        for snapshot in list(self._datasets.order_by("name").stream()):
            versions = [
                DatasetVersion.model_validate(v.to_dict())
                for v in snapshot.reference.collection("versions").stream()
                if not _deleting(v)
            ]
            listed.append((_dataset(snapshot.to_dict()), sorted(versions, key=lambda v: v.created_at)))
        return listed

    def latest_published(self, name: str) -> DatasetVersion:
        """The most recently published version (a schedule's "latest")."""
        self.dataset(name)
        versions = [
            DatasetVersion.model_validate(v.to_dict())
            for v in self._dataset_ref(name).collection("versions").stream()
            if not _deleting(v)
        ]
        published = [v for v in versions if v.status == "published" and v.published_at is not None]
        if not published:
            raise NotFound(f"Dataset {name!r} has no published version yet.", details={"name": name})
        return max(published, key=lambda v: v.published_at or v.created_at)

    def version(self, name: str, version: str) -> DatasetVersion:
        snapshot = self._version_ref(name, version).get()
        if not snapshot.exists or _deleting(snapshot):
            self.dataset(name)  # says which is missing: the dataset or the version
            raise NotFound(f"Dataset {name!r} has no version {version!r}.", details={"name": name, "version": version})
        return DatasetVersion.model_validate(snapshot.to_dict())

    def record_datadog_push(self, name: str, version: str, fields: dict[str, Any]) -> None:
        """Where a published version went in Datadog (its entries stay frozen)."""
        self._version_ref(name, version).update(fields)

    def publish(self, name: str, version: str) -> DatasetVersion:
        now = datetime.now(UTC)

        def freeze(batch: firestore.WriteBatch) -> dict[str, Any]:
            return {"status": "published", "published_at": now}

        self._write_to_draft(name, version, freeze)
        try:
            self.ensure_snapshot(name, version)
        except Exception:  # published all the same: its experiments read the entries one by one
            logger.warning("could not write the snapshot of %s@%s", name, version, exc_info=True)
        return self.version(name, version)

    def ensure_snapshot(self, name: str, version: str) -> bool:
        """Give a published version its snapshot (dataset_snapshots) if it has none; False for a
        draft, or a version one of whose entries is too large for a chunk (remembered, so the
        entries are not read again for nothing at the next experiment's start)."""
        reference = self._version_ref(name, version)
        document = reference.get().to_dict() or {}
        if document.get("status") != "published" or _deleting_document(document):
            return False
        if dataset_snapshots.marker_of(document):
            return True
        if dataset_snapshots.has_no_snapshot(document):
            return False
        entries = (entry for page in self._query_pages(name, version, after=None, page_size=_PAGE) for entry in page)
        try:
            dataset_snapshots.write_snapshot(self._client, reference, entries)
        except dataset_snapshots.EntryTooLarge as error:
            logger.info("%s@%s keeps no snapshot: %s", name, version, error)
            dataset_snapshots.mark_without_snapshot(reference, str(error))
            return False
        return True

    # entries

    def page(self, name: str, version: str, *, page_size: int, after: str | None) -> list[DatasetEntry]:
        query = self._entries(name, version).order_by("id").limit(page_size)
        if after:
            query = query.start_after({"id": after})
        return [DatasetEntry.model_validate(s.to_dict()) for s in query.stream()]

    def pages(
        self, name: str, version: str, *, after: str | None = None, last: str | None = None, page_size: int = _PAGE
    ) -> Iterator[list[DatasetEntry]]:
        """The entries after `after` up to `last` inclusive (None: from the first, to the end), in id
        order, a list at a time: a published version's from its snapshot, others `page_size` at a time."""
        reference = self._version_ref(name, version)
        document = reference.get().to_dict() or {}
        if marker := dataset_snapshots.marker_of(document):
            yield from dataset_snapshots.snapshot_pages(reference, marker, after=after, last=last)
            return
        for page in self._query_pages(name, version, after=after, page_size=page_size):
            in_range = [entry for entry in page if last is None or entry.id <= last]
            if in_range:
                yield in_range
            if len(in_range) < len(page):
                return

    def stream(self, name: str, version: str) -> Iterator[DatasetEntry]:
        """Every entry in id order, a page at a time (memory does not grow with the version)."""
        for page in self.pages(name, version):
            yield from page

    def _query_pages(
        self, name: str, version: str, *, after: str | None, page_size: int
    ) -> Iterator[list[DatasetEntry]]:
        """Entry documents by query, the first page `page_size` long, then _PAGE."""
        while True:
            page = self.page(name, version, page_size=page_size, after=after)
            if page:
                yield page
            if len(page) < page_size:
                return
            after, page_size = page[-1].id, _PAGE

    def existing_ids(self, name: str, version: str, ids: Iterable[str]) -> set[str]:
        refs = [self._entries(name, version).document(i) for i in ids]
        found: set[str] = set()
        for start in range(0, len(refs), _PAGE):
            found |= {s.id for s in self._client.get_all(refs[start : start + _PAGE]) if s.exists}
        return found

    def entry(self, name: str, version: str, entry_id: str) -> DatasetEntry:
        snapshot = self._entries(name, version).document(entry_id).get()
        if not snapshot.exists:
            raise NotFound(f"No entry {entry_id!r} in {name}@{version}.", details={"entry_id": entry_id})
        return DatasetEntry.model_validate(snapshot.to_dict())

    def replace(
        self, name: str, version: str, entry_id: str, change: Callable[[DatasetEntry], DatasetEntry]
    ) -> DatasetEntry:
        """Rewrite one entry of a draft as `change` makes it, atomically with the version document.

        The entry is read inside the retried write (the version document's precondition orders it
        after any concurrent write to the version), so a retry applies `change` to a fresh read.
        """
        reference = self._entries(name, version).document(entry_id)
        written: list[DatasetEntry] = []

        def rewrite(batch: firestore.WriteBatch) -> dict[str, Any]:
            written.clear()
            snapshot = reference.get()
            if not snapshot.exists:
                raise NotFound(f"No entry {entry_id!r} in {name}@{version}.", details={"entry_id": entry_id})
            entry = change(DatasetEntry.model_validate(snapshot.to_dict()))
            batch.set(reference, entry.model_dump(mode="python"))
            written.append(entry)
            return {}

        self._write_to_draft(name, version, rewrite)
        return written[0]

    def add(
        self,
        name: str,
        version: str,
        entries: list[DatasetEntry],
        *,
        also: Callable[[firestore.WriteBatch], None] | None = None,
    ) -> None:
        """Add up to MAX_BATCH_ENTRIES entries atomically; 409 if any id is already there. `also`
        adds other writes to the same batch (a review decision with its entry)."""
        from google.cloud import firestore

        assert len(entries) <= MAX_BATCH_ENTRIES
        collection = self._entries(name, version)

        def add_all(batch: firestore.WriteBatch) -> dict[str, Any]:
            for entry in entries:
                batch.create(collection.document(entry.id), entry.model_dump(mode="python"))
            if also is not None:
                also(batch)
            return {"entry_count": firestore.Increment(len(entries))}

        self._write_to_draft(name, version, add_all)

    def delete(self, name: str, version: str, entry_id: str) -> None:
        from google.cloud import firestore

        reference = self._entries(name, version).document(entry_id)
        if not reference.get().exists:
            raise NotFound(f"No entry {entry_id!r} in {name}@{version}.", details={"entry_id": entry_id})

        def remove(batch: firestore.WriteBatch) -> dict[str, Any]:
            batch.delete(reference, option=self._client.write_option(exists=True))
            return {"entry_count": firestore.Increment(-1)}

        self._write_to_draft(name, version, remove)

    def copy_version(self, name: str, source: str, target: DatasetVersion) -> None:
        """A new draft holding the same entries (documents only: images are shared, not copied)."""
        from google.api_core import exceptions

        try:
            self._version_ref(name, target.version).create({**target.model_dump(), "entry_count": 0})
        except exceptions.AlreadyExists:
            raise Conflict(f"Dataset {name!r} already has a version {target.version!r}.") from None
        chunk: list[DatasetEntry] = []
        for entry in self.stream(name, source):
            chunk.append(entry)
            if len(chunk) == MAX_BATCH_ENTRIES:
                self.add(name, target.version, chunk)
                chunk = []
        if chunk:
            self.add(name, target.version, chunk)

    # references from other records (collection-group queries over every version's entries)

    def entries_from_extraction(self, extraction_id: str, *, limit: int) -> list[str]:
        """`name@version/entry_id` of up to `limit` entries made from this extraction, in any version."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection_group(ENTRIES).where(
            filter=FieldFilter("source.extraction_id", "==", extraction_id)
        )
        return [_entry_path(s.reference) for s in query.select([]).limit(limit).stream()]

    def entries_using_image(self, image_uri: str, *, limit: int) -> list[str]:
        """`name@version/entry_id` of up to `limit` entries whose input is the image at `image_uri`."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._client.collection_group(ENTRIES).where(filter=FieldFilter("input.image_uri", "==", image_uri))
        return [_entry_path(s.reference) for s in query.select([]).limit(limit).stream()]

    # deleting

    def delete_version(self, name: str, version: str) -> None:
        """Delete a draft and its entries; 409 when published, 404 when unknown. A version left
        half-deleted (marked, some entries gone) by a crash is finished by the next call."""
        reference = self._version_ref(name, version)
        snapshot = reference.get()
        if not snapshot.exists:
            self.version(name, version)  # raises the precise 404
        if not _deleting(snapshot):
            self._write_to_draft(name, version, lambda batch: {"deleting": True})
        self._delete_entries(name, version)
        reference.delete()

    def delete_dataset(self, name: str) -> None:
        """Delete a dataset with no published version: its drafts (each as `delete_version`), then
        its document. 409 naming the published versions, before anything is deleted."""
        from google.api_core import exceptions

        dataset = self._dataset_ref(name)
        snapshot = dataset.get()
        if not snapshot.exists:
            raise NotFound(f"No dataset {name!r}.", details={"name": name})
        self._refuse_published(name)
        # A version created while the drafts are deleted (a new version from a draft) is found by
        # the next pass; one published meanwhile stops the deletion with the same 409.
        for _ in range(_ATTEMPTS):
            remaining = list(dataset.collection("versions").stream())
            if not remaining:
                break
            self._refuse_published(name)
            for version in remaining:
                try:
                    self.delete_version(name, version.id)
                except NotFound:
                    pass  # deleted meanwhile by someone else
                except Conflict:
                    self._refuse_published(name)  # published meanwhile: the 409 that names it
                    raise
        else:
            raise DependencyUnavailable(f"Dataset {name!r} keeps getting new versions; try again.")
        try:
            dataset.delete(option=self._client.write_option(last_update_time=snapshot.update_time))
        except (exceptions.FailedPrecondition, exceptions.NotFound):
            # A version was created meanwhile (creating one rewrites the dataset document).
            self._refuse_published(name)
            raise Conflict(
                f"Dataset {name!r} got a new version while it was deleted; send the DELETE again.",
                details={"name": name, "versions": [v.id for v in dataset.collection("versions").stream()]},
            ) from None

    def _refuse_published(self, name: str) -> None:
        published = sorted(
            v.id
            for v in self._dataset_ref(name).collection("versions").stream()
            if v.get("status") == "published" and not _deleting(v)
        )
        if published:
            raise Conflict(
                f"Dataset {name!r} has published versions ({', '.join(published)}): they are frozen and "
                "experiments pin them, so the dataset is kept.",
                details={"name": name, "published_versions": published},
            )

    def _delete_entries(self, name: str, version: str) -> None:
        """Every entry of a version, a batch of 500 at a time. The extractions a page's entries
        were made from are released first (no longer `in_dataset` unless another version holds
        them: golden candidates again), so a crash in between leaves them released and the
        repeat releases them again, harmlessly."""
        collection = self._entries(name, version)
        while True:
            page = list(collection.select(["source.extraction_id"]).limit(_DELETE_BATCH).stream())
            if not page:
                return
            taken = sorted({i for s in page if (i := ((s.to_dict() or {}).get("source") or {}).get("extraction_id"))})
            if taken:
                self._release_extractions(name, version, taken)
            batch = self._client.batch()
            for snapshot in page:
                batch.delete(snapshot.reference)
            batch.commit()

    def _release_extractions(self, name: str, version: str, extraction_ids: list[str]) -> None:
        from google.cloud import firestore

        here = f"{name}@{version}/"
        batch = self._client.batch()
        extractions = self._client.collection(EXTRACTIONS)
        writes = 0
        for snapshot in self._client.get_all([extractions.document(i) for i in extraction_ids]):
            if not snapshot.exists:
                continue
            fields: dict[str, Any] = {"datasets": firestore.ArrayRemove([f"{name}@{version}"])}
            # An extraction is an entry at most once in a version (its id is the entry's id).
            elsewhere = [p for p in self.entries_from_extraction(snapshot.id, limit=2) if not p.startswith(here)]
            if not elsewhere:
                fields["in_dataset"] = False
            batch.update(snapshot.reference, fields)
            writes += 1
        if writes:
            batch.commit()

    def _write_to_draft(
        self, name: str, version: str, mutate: Callable[[firestore.WriteBatch], dict[str, Any]]
    ) -> None:
        """Apply `mutate` and its version-document update atomically, only while the version is a
        draft; retried when another writer changed the version document first."""
        from google.api_core import exceptions

        reference = self._version_ref(name, version)
        for attempt in range(_ATTEMPTS):
            snapshot = reference.get()
            if not snapshot.exists or _deleting(snapshot):
                self.version(name, version)  # raises the precise 404
            if snapshot.get("status") == "published":
                raise Conflict(
                    f"{name}@{version} is published and frozen; create a new version to change it.",
                    details={"name": name, "version": version},
                )
            batch = self._client.batch()
            update = mutate(batch) | {"updated_at": datetime.now(UTC)}
            batch.update(reference, update, option=self._client.write_option(last_update_time=snapshot.update_time))
            try:
                batch.commit()
                return
            except exceptions.AlreadyExists as error:
                raise Conflict(
                    f"An entry with this id already exists in {name}@{version}.", details={"reason": str(error.message)}
                ) from None
            except exceptions.NotFound:
                raise NotFound(f"An entry to delete is no longer in {name}@{version}.") from None
            except (exceptions.FailedPrecondition, exceptions.Aborted):
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))  # another writer won; retry
        raise DependencyUnavailable(f"{name}@{version} is too busy; try again.")


def _entry_path(entry: firestore.DocumentReference) -> str:
    version = entry.parent.parent
    assert version is not None and version.parent.parent is not None
    return f"{version.parent.parent.id}@{version.id}/{entry.id}"


def _deleting(snapshot: firestore.DocumentSnapshot) -> bool:
    """A version whose deletion has started (see the module's docstring): gone to readers."""
    return _deleting_document(snapshot.to_dict() or {})


def _deleting_document(document: dict[str, Any]) -> bool:
    return bool(document.get("deleting"))


def _dataset(document: dict[str, Any] | None) -> Dataset:
    return Dataset.model_validate(document or {})
