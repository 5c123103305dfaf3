"""How a published version's entries are cut into snapshot chunks (dataset_snapshots.chunked)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from shared.models import DatasetEntry
from shared.storage.dataset_snapshots import EntryTooLarge, chunked


def entry(i: int, docs: str | None = None) -> DatasetEntry:
    return DatasetEntry.model_validate(
        {
            "id": f"e{i:05d}",
            "input": {
                "image_uri": f"gs://b/images/sha256/{i:064x}",
                "image_sha256": f"{i:064x}",
                "content_type": "image/png",
            },
            "expected_output": {"vote_results": [{"candidate_name": "Ama", "vote_count": i}]},
            "reference_docs": docs,
            "source": {"kind": "manual"},
            "created_at": datetime(2026, 12, 1, tzinfo=UTC),
            "content_sha256": "0" * 64,
        }
    )


@pytest.mark.parametrize("chunk_bytes", [1_500, 3_000, 10_000, 1_000_000])
def test_chunks_keep_every_entry_in_order_and_each_chunk_within_its_size(chunk_bytes):
    entries = [entry(i, docs="d" * (i % 7) * 40) for i in range(60)]

    chunks = list(chunked(entries, chunk_bytes=chunk_bytes))

    assert [e for chunk in chunks for e in chunk] == entries
    assert all(chunk for chunk in chunks)
    encoded = TypeAdapter(list[DatasetEntry])
    assert all(len(encoded.dump_json(chunk)) <= chunk_bytes for chunk in chunks)
    # Greedy: no chunk could have taken the next one's first entry.
    for chunk, following in zip(chunks, chunks[1:], strict=False):
        assert len(encoded.dump_json([*chunk, following[0]])) > chunk_bytes


def test_chunk_sizes_are_bytes_of_utf8_not_characters():
    """Names and documents in Amharic, Arabic or with accents: three bytes a character here."""
    entries = [entry(i, docs="ሰላም" * 100) for i in range(20)]
    encoded = TypeAdapter(list[DatasetEntry])

    chunks = list(chunked(entries, chunk_bytes=3_000))

    assert [e for chunk in chunks for e in chunk] == entries
    assert all(len(encoded.dump_json(chunk)) <= 3_000 for chunk in chunks)


def test_a_chunk_may_be_exactly_its_size():
    entries = [entry(i) for i in range(6)]
    exact = len(TypeAdapter(list[DatasetEntry]).dump_json(entries[:3]))

    assert [len(chunk) for chunk in chunked(entries, chunk_bytes=exact)] == [3, 3]


def test_an_entry_larger_than_a_chunk_is_refused_by_name():
    with pytest.raises(EntryTooLarge, match="e00002"):
        list(chunked([entry(1), entry(2, docs="x" * 5_000)], chunk_bytes=2_000))


def test_no_entries_make_no_chunks():
    assert list(chunked([], chunk_bytes=1_000)) == []
