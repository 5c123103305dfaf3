"""A published version's entries kept a second time as a few large documents, for experiments.

Reading entries by query cost this process about 0.5 ms of CPU per entry (gRPC streams one message
per document, and the client decodes every value through proto-plus): at experiment start and
again in the runner, that was a third of a run's CPU. The same 1,000 entries as two JSON documents
cost 0.10 s of CPU against 0.69 s (5,000: 0.28 s against 3.19 s). A published version never
changes, so its snapshot never goes stale. It is written once, after the freeze, as chunks
`versions/{v}/snapshot/{cut}-{n}` in id order, then named on the version document:
`snapshot: {cut, entries, chunks: [{first, last, count}]}`. A reader fetches exactly the chunks
that marker lists and overlap its range, so chunks of a write that died (another cut) are never
read, and two writers racing each name only their own. The entry documents stay the record: a
version without a snapshot (published before snapshots existed, or whose snapshot could not be
written) is read entry by entry, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from shared.models import DatasetEntry

if TYPE_CHECKING:
    from google.cloud import firestore

SNAPSHOT = "snapshot"  # the chunks' collection under a version, and the version document's field
CHUNK_BYTES = 900_000  # of entries' JSON (UTF-8) per chunk: a document holds at most 1 MiB
# A commit of 8 chunks (5 MB) was refused: gRPC's default 4 MiB message, which the emulator keeps
# (Firestore itself takes 10 MiB). Three chunks are at most 2.7 MB.
CHUNKS_PER_COMMIT = 3

_ENTRIES = TypeAdapter(list[DatasetEntry])


class EntryTooLarge(Exception):
    """One entry's JSON is larger than a chunk: the version is read entry by entry."""


class SnapshotDamaged(Exception):
    """A chunk the marker lists is missing or holds other entries (changed by hand)."""


def chunked(entries: Iterable[DatasetEntry], *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[list[DatasetEntry]]:
    """Entries grouped in order, each group's JSON list at most `chunk_bytes` bytes."""
    chunk: list[DatasetEntry] = []
    size = 2  # the list's brackets
    for entry in entries:
        entry_size = len(entry.model_dump_json().encode())
        if entry_size + 2 > chunk_bytes:
            raise EntryTooLarge(f"entry {entry.id!r} is {entry_size} bytes of JSON")
        if chunk and size + 1 + entry_size > chunk_bytes:  # 1: the comma before it
            yield chunk
            chunk, size = [], 2
        size += entry_size + (1 if chunk else 0)
        chunk.append(entry)
    if chunk:
        yield chunk


def write_snapshot(
    client: firestore.Client, version: firestore.DocumentReference, entries: Iterable[DatasetEntry]
) -> dict[str, Any]:
    """Write the chunks under a new cut, then name them on the version document; the marker."""
    cut = uuid.uuid4().hex[:12]
    listed: list[dict[str, Any]] = []
    batch, in_batch = client.batch(), 0
    for index, chunk in enumerate(chunked(entries, chunk_bytes=CHUNK_BYTES)):
        batch.set(version.collection(SNAPSHOT).document(_chunk_id(cut, index)), {"entries": _ENTRIES.dump_json(chunk)})
        listed.append({"first": chunk[0].id, "last": chunk[-1].id, "count": len(chunk)})
        in_batch += 1
        if in_batch == CHUNKS_PER_COMMIT:
            batch.commit()
            batch, in_batch = client.batch(), 0
    if in_batch:
        batch.commit()
    marker = {"cut": cut, "chunks": listed, "entries": sum(c["count"] for c in listed)}
    version.update({SNAPSHOT: marker})
    return marker


def mark_without_snapshot(version: firestore.DocumentReference, reason: str) -> None:
    """Remember that this version cannot have a snapshot, so nobody tries again at every start."""
    version.update({SNAPSHOT: {"none": reason[:500]}})


def marker_of(version_document: dict[str, Any]) -> dict[str, Any] | None:
    """The snapshot a published version document names, if it covers every entry."""
    marker = version_document.get(SNAPSHOT)
    if version_document.get("status") != "published" or not isinstance(marker, dict) or "cut" not in marker:
        return None
    counted = sum(chunk.get("count", 0) for chunk in marker.get("chunks", []))
    return marker if marker.get("entries") == counted == version_document.get("entry_count", 0) else None


def has_no_snapshot(version_document: dict[str, Any]) -> bool:
    """True when the version was marked as one that cannot have a snapshot."""
    marker = version_document.get(SNAPSHOT)
    return isinstance(marker, dict) and "none" in marker


def snapshot_pages(
    version: firestore.DocumentReference, marker: dict[str, Any], *, after: str | None, last: str | None
) -> Iterator[list[DatasetEntry]]:
    """The entries after `after` up to `last` (None: from the first, to the end), a chunk at a
    time; each chunk is read only when the one before it has been used."""
    for index, listed in enumerate(marker["chunks"]):
        if after is not None and listed["last"] <= after:
            continue
        if last is not None and listed["first"] > last:
            return
        document = version.collection(SNAPSHOT).document(_chunk_id(marker["cut"], index)).get()
        entries = _ENTRIES.validate_json(document.get("entries")) if document.exists else []
        if len(entries) != listed["count"] or entries[0].id != listed["first"] or entries[-1].id != listed["last"]:
            raise SnapshotDamaged(f"snapshot chunk {document.id} of {version.path} is missing or changed")
        if in_range := [e for e in entries if (after is None or e.id > after) and (last is None or e.id <= last)]:
            yield in_range


def _chunk_id(cut: str, index: int) -> str:
    return f"{cut}-{index:05d}"
