"""A published version's entries kept a second time as a few large documents, for experiments.

Reading entries by query cost this process about 0.5 ms of CPU per entry (gRPC streams one message
per document, and the client decodes every value through proto-plus): at experiment start and
again in the runner, that was a third of a run's CPU. The same 1,000 entries as three JSON
documents cost about 45 ms in all. A published version never changes, so its snapshot never goes
stale: it is written once, after the freeze, as `versions/{v}/snapshot/{n}` chunks in id order,
and named on the version document last, so a reader sees all of it or none. The entry documents
stay the record: a version without a snapshot (published before snapshots existed, or whose
snapshot could not be written) is read entry by entry, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from shared.models import DatasetEntry

if TYPE_CHECKING:
    from google.cloud import firestore

SNAPSHOT = "snapshot"  # the chunks' collection under a version, and the version document's field
CHUNK_BYTES = 900_000  # of entries' JSON per chunk: a document holds at most 1 MiB
CHUNKS_PER_COMMIT = 8  # a commit carries at most 10 MiB

_ENTRIES = TypeAdapter(list[DatasetEntry])


class EntryTooLarge(Exception):
    """One entry's JSON is larger than a chunk: the version is read entry by entry."""


def chunked(entries: Iterable[DatasetEntry], *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[DatasetEntry]]:
    """Entries grouped in order, each group's JSON at most `chunk_bytes`."""
    chunk: list[DatasetEntry] = []
    size = 2  # the list's brackets
    for entry in entries:
        entry_size = len(entry.model_dump_json()) + 1  # and its comma
        if entry_size + 2 > chunk_bytes:
            raise EntryTooLarge(f"entry {entry.id!r} is {entry_size} bytes of JSON")
        if chunk and size + entry_size > chunk_bytes:
            yield chunk
            chunk, size = [], 2
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


def write_snapshot(
    client: firestore.Client, version: firestore.DocumentReference, entries: Iterable[DatasetEntry]
) -> dict[str, int]:
    """Write the chunks, then name them on the version document; what it names.
    Writing it again writes the same documents (chunks follow from the entries alone)."""
    chunks = version.collection(SNAPSHOT)
    batch, in_batch, count, total = client.batch(), 0, 0, 0
    for index, chunk in enumerate(chunked(entries, chunk_bytes=CHUNK_BYTES)):
        fields = {"first_id": chunk[0].id, "last_id": chunk[-1].id, "count": len(chunk)}
        batch.set(chunks.document(f"{index:05d}"), fields | {"entries": _ENTRIES.dump_json(chunk)})
        in_batch, count, total = in_batch + 1, count + 1, total + len(chunk)
        if in_batch == CHUNKS_PER_COMMIT:
            batch.commit()
            batch, in_batch = client.batch(), 0
    if in_batch:
        batch.commit()
    marker = {"chunks": count, "entries": total}
    version.update({SNAPSHOT: marker})
    return marker


def marker_of(version_document: dict[str, Any], entry_count: int) -> dict[str, int] | None:
    """The snapshot a published version document names, if it covers every entry."""
    marker = version_document.get(SNAPSHOT)
    if version_document.get("status") != "published" or not isinstance(marker, dict):
        return None
    return marker if marker.get("entries") == entry_count else None


def snapshot_pages(
    version: firestore.DocumentReference, marker: dict[str, int], *, after: str | None, last: str | None
) -> Iterator[list[DatasetEntry]]:
    """The entries after `after` up to `last` (None: from the first, to the end), a chunk at a time.
    Only the chunks the marker counts: a write that died before its marker may have left more,
    cut for another chunk size, which the write that succeeded did not overwrite."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = version.collection(SNAPSHOT).order_by("last_id")
    if after is not None:
        query = query.where(filter=FieldFilter("last_id", ">", after))
    for document in query.stream():
        if int(document.id) >= marker["chunks"]:
            continue
        fields = document.to_dict() or {}
        if last is not None and fields["first_id"] > last:
            return
        entries = _ENTRIES.validate_json(fields["entries"])
        if in_range := [e for e in entries if (after is None or e.id > after) and (last is None or e.id <= last)]:
            yield in_range
