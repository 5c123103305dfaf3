"""A published version's snapshot (shared/storage/dataset_snapshots.py), on the Firestore emulator:
written as the version is published, read back exactly as the entry documents would be, over any
range of ids, and made for a version published before snapshots existed when an experiment starts."""

from __future__ import annotations

import base64
import itertools

import pytest
from pydantic import TypeAdapter

from shared.models import DatasetEntry
from shared.storage import dataset_snapshots
from shared.storage.clients import firestore_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, large_published_dataset, new_draft, truth_responder, wait_done

ENTRIES = TypeAdapter(list[DatasetEntry])
SMALL_CHUNKS = 20_000  # bytes of JSON: about 25 entries a chunk, so 150 entries make several


@pytest.fixture
def repository(local_stack) -> FirestoreDatasetRepository:
    return FirestoreDatasetRepository(firestore_client())


@pytest.fixture
def forms():
    return [generate_form(2100 + i) for i in range(3)]


def version_document(name: str, version: str = "v1") -> dict:
    reference = firestore_client().collection("datasets").document(name).collection("versions").document(version)
    return reference.get().to_dict() or {}


def chunk_bounds(name: str) -> list[tuple[str, str]]:
    marker = version_document(name)[dataset_snapshots.SNAPSHOT]
    return [(chunk["first"], chunk["last"]) for chunk in marker["chunks"]]


def chunks_collection(name: str):
    version = firestore_client().collection("datasets").document(name).collection("versions").document("v1")
    return version.collection(dataset_snapshots.SNAPSHOT)


def by_query(repository: FirestoreDatasetRepository, name: str, after: str | None, last: str | None) -> list:
    every = repository.page(name, "v1", page_size=1000, after=None)
    return [e for e in every if (after is None or e.id > after) and (last is None or e.id <= last)]


def flat(pages) -> list:
    return [entry for page in pages for entry in page]


def test_publishing_writes_a_snapshot_that_reads_back_as_the_entries_over_any_range(
    datasets_client, repository, forms, monkeypatch
):
    monkeypatch.setattr(dataset_snapshots, "CHUNK_BYTES", SMALL_CHUNKS)
    name, _ = large_published_dataset(datasets_client, forms, 150)

    marker = version_document(name)[dataset_snapshots.SNAPSHOT]
    bounds = chunk_bounds(name)
    assert marker["entries"] == 150 and sum(c["count"] for c in marker["chunks"]) == 150
    assert len(bounds) >= 4 and len(list(chunks_collection(name).stream())) == len(bounds), bounds
    assert all(first <= last for first, last in bounds)
    assert all(a_last < b_first for (_, a_last), (b_first, _) in itertools.pairwise(bounds)), bounds

    ids = [e.id for e in by_query(repository, name, None, None)]
    # Chunk edges, the middle of a chunk, before the first and past the last id.
    edges = {None, "a", "z", ids[0], ids[-1], ids[74], ids[75]} | {i for pair in bounds for i in pair}
    for after, last in itertools.product(sorted(edges, key=str), repeat=2):
        if after is not None and last is not None and after > last:
            continue
        expected = by_query(repository, name, after, last)
        read = flat(repository.pages(name, "v1", after=after, last=last))
        assert read == expected, (after, last)
    assert list(repository.stream(name, "v1")) == by_query(repository, name, None, None)


def test_a_version_of_several_megabytes_gets_its_snapshot_in_full_size_chunks(datasets_client, repository, forms):
    """Real chunk sizes: 120 entries of 50,000-character documents are about 6 MB, so several
    900 KB chunks and more than one commit, each under gRPC's 4 MiB message."""
    name = new_draft(datasets_client, "mb")
    image = {"image_base64": base64.b64encode(forms[0].image).decode()}
    for start in range(0, 120, 20):
        entries = [
            {
                "id": f"e{i:05d}",
                "input": image,
                "expected_output": forms[0].truth.model_dump(),
                "reference_docs": f"{i} " + "ballot " * 7_000,
            }
            for i in range(start, start + 20)
        ]
        added = datasets_client.post(f"/{name}/v1/entries", json={"entries": entries}, headers=HEADERS)
        assert added.status_code == 201, added.json
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200

    marker = version_document(name)[dataset_snapshots.SNAPSHOT]
    assert "cut" in marker and len(marker["chunks"]) > dataset_snapshots.CHUNKS_PER_COMMIT, marker
    assert flat(repository.pages(name, "v1")) == by_query(repository, name, None, None)


def test_the_snapshot_is_what_a_published_version_is_read_from(datasets_client, repository, forms, monkeypatch):
    """Proof of the path: an entry document changed behind the product's back (nothing in the
    product can change a published entry) is not what the runner's reads see."""
    monkeypatch.setattr(dataset_snapshots, "CHUNK_BYTES", SMALL_CHUNKS)
    name, _ = large_published_dataset(datasets_client, forms, 40)
    entries = (
        firestore_client()
        .collection("datasets")
        .document(name)
        .collection("versions")
        .document("v1")
        .collection("entries")
    )
    entries.document("e00007").update({"tags": {"changed": "behind the product's back"}})

    assert by_query(repository, name, "e00006", "e00007")[0].tags == {"changed": "behind the product's back"}
    assert flat(repository.pages(name, "v1", after="e00006", last="e00007"))[0].tags == {}


def test_chunks_left_by_a_write_that_died_are_not_read(datasets_client, repository, forms, monkeypatch):
    """A snapshot write that died before its marker left chunks of its own cut (perhaps for
    another chunk size): only the chunks the marker lists are read."""
    monkeypatch.setattr(dataset_snapshots, "CHUNK_BYTES", SMALL_CHUNKS)
    name, _ = large_published_dataset(datasets_client, forms, 60)
    marker = version_document(name)[dataset_snapshots.SNAPSHOT]
    again = by_query(repository, name, "e00040", "e00050")
    for stale in ("0123456789ab-00000", f"{marker['cut']}-{len(marker['chunks']):05d}"):
        chunks_collection(name).document(stale).set({"entries": ENTRIES.dump_json(again)})

    assert flat(repository.pages(name, "v1")) == by_query(repository, name, None, None)
    assert flat(repository.pages(name, "v1", after="e00040")) == by_query(repository, name, "e00040", None)


def test_a_chunk_changed_by_hand_is_an_error_not_a_silent_gap(datasets_client, repository, forms, monkeypatch):
    monkeypatch.setattr(dataset_snapshots, "CHUNK_BYTES", SMALL_CHUNKS)
    name, _ = large_published_dataset(datasets_client, forms, 60)
    marker = version_document(name)[dataset_snapshots.SNAPSHOT]
    second = chunks_collection(name).document(f"{marker['cut']}-00001")
    kept = ENTRIES.validate_json(second.get().get("entries"))
    second.set({"entries": ENTRIES.dump_json(kept[1:])})

    with pytest.raises(dataset_snapshots.SnapshotDamaged, match="00001"):
        flat(repository.pages(name, "v1"))
    second.delete()
    with pytest.raises(dataset_snapshots.SnapshotDamaged, match="missing"):
        flat(repository.pages(name, "v1", after=kept[0].id))


def test_a_draft_has_no_snapshot_and_is_read_by_query(datasets_client, repository, forms):
    name, _ = large_published_dataset(datasets_client, forms, 12)
    draft = datasets_client.post(f"/{name}/versions", json={"version": "v2", "from_version": "v1"}, headers=HEADERS)
    assert draft.status_code == 201, draft.json

    assert dataset_snapshots.SNAPSHOT not in version_document(name, "v2")
    assert repository.ensure_snapshot(name, "v2") is False
    assert [e.id for e in flat(repository.pages(name, "v2", page_size=5))] == [f"e{i:05d}" for i in range(12)]


def test_an_entry_too_large_for_a_chunk_leaves_the_version_read_by_query(
    datasets_client, repository, forms, monkeypatch
):
    monkeypatch.setattr(dataset_snapshots, "CHUNK_BYTES", 4_000)
    name = new_draft(datasets_client, "huge")
    image = {"image_base64": base64.b64encode(forms[0].image).decode()}
    entries = [
        {"id": "a-small", "input": image, "expected_output": forms[0].truth.model_dump()},
        {
            "id": "b-large",
            "input": image,
            "expected_output": forms[0].truth.model_dump(),
            "reference_docs": "x" * 5_000,
        },
    ]
    assert datasets_client.post(f"/{name}/v1/entries", json={"entries": entries}, headers=HEADERS).status_code == 201
    published = datasets_client.post(f"/{name}/v1/publish", headers=HEADERS)

    assert published.status_code == 200, published.json
    # Remembered: an experiment's start does not read every entry again to fail the same way.
    assert "b-large" in version_document(name)[dataset_snapshots.SNAPSHOT]["none"]
    assert repository.ensure_snapshot(name, "v1") is False
    assert [e.id for e in repository.stream(name, "v1")] == ["a-small", "b-large"]


def test_a_version_published_before_snapshots_gets_one_when_an_experiment_starts(
    datasets_client, experiments_client, gemini, repository, forms
):
    name, _ = large_published_dataset(datasets_client, forms, 30)
    # As a version published by the release before snapshots: no marker, no chunks.
    version = firestore_client().collection("datasets").document(name).collection("versions").document("v1")
    for chunk in version.collection(dataset_snapshots.SNAPSHOT).stream():
        chunk.reference.delete()
    version.update({dataset_snapshots.SNAPSHOT: firestore_delete()})
    assert [e.id for e in repository.stream(name, "v1")] == [f"e{i:05d}" for i in range(30)]  # by query

    gemini.set_responder(truth_responder({form.image: form.truth.model_dump() for form in forms}))
    body = {
        "name": "old-version",
        "dataset": {"name": name, "version": "v1"},
        "variants": [{"name": "a", "model": "gemini-2.5-flash"}],
        "evaluators": ["vote_count_exact"],
    }
    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json

    marker = version_document(name)[dataset_snapshots.SNAPSHOT]
    assert marker["entries"] == 30 and [c["count"] for c in marker["chunks"]] == [30]
    status = wait_done(experiments_client, started.json["experiment_id"])
    assert status["status"] == "completed" and status["progress"] == {"done": 30, "total": 30, "failed": 0}
    assert status["summary"]["a"]["vote_count_exact"]["mean"] == 1.0, status["summary"]


def firestore_delete():
    from google.cloud import firestore

    return firestore.DELETE_FIELD
