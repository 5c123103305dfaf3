"""DELETE /datasets/{name}/versions/{version} and DELETE /datasets/{name}, over the real emulators."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import quote

import pytest
from google.api_core import exceptions
from google.cloud.firestore_v1.batch import WriteBatch

from shared.config import get_settings
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, new_draft, published_dataset
from tests.integration.stored import extraction_document, image_names
from tests.openapi_contract import assert_matches_contract

pytestmark = pytest.mark.integration

VERSION_PATH = "/datasets/{name}/versions/{version}"
DATASET_PATH = "/datasets/{name}"


def stored_entry_count(name: str, version: str) -> int:
    entries = (
        firestore_client().collection("datasets").document(name).collection("versions").document(version)
    ).collection("entries")
    return entries.count().get()[0][0].value


def stored_versions(name: str) -> list[str]:
    versions = firestore_client().collection("datasets").document(name).collection("versions")
    return sorted(snapshot.id for snapshot in versions.stream())


def fill(datasets_client, name: str, version: str, size: int) -> str:
    """`size` entries of one form (uploaded once, the rest imported by its URI); returns its object name."""
    form = generate_form(4242)
    first = {"id": "e00000", "input": {"image_base64": base64.b64encode(form.image).decode()}}
    first["expected_output"] = form.truth.model_dump()
    added = datasets_client.post(f"/{name}/{version}/entries", json=first, headers=HEADERS)
    assert added.status_code == 201, added.json
    object_name = f"images/sha256/{hashlib.sha256(form.image).hexdigest()}"
    uri = f"gs://{get_settings().images_bucket}/{object_name}"
    lines = [
        json.dumps({"id": f"e{i:05d}", "input": {"image_uri": uri}, "expected_output": form.truth.model_dump()})
        for i in range(1, size)
    ]
    if lines:
        imported = datasets_client.post(
            f"/{name}/{version}/import", data="\n".join(lines), headers=HEADERS, content_type="application/x-ndjson"
        )
        assert imported.json["imported"] == size - 1, imported.json
    return object_name


@pytest.fixture
def failing_commit(monkeypatch):
    """`failing_commit(n)`: the n-th Firestore batch commit from now fails as if Firestore went away."""

    def arm(failing_call: int) -> None:
        original = WriteBatch.commit
        calls = {"count": 0}

        def commit(self, *args, **kwargs):
            calls["count"] += 1
            if calls["count"] == failing_call:
                raise exceptions.ServiceUnavailable("injected: Firestore went away")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(WriteBatch, "commit", commit)

    return arm


# a version


def test_deleting_a_draft_removes_it_and_its_entries_in_batches_but_keeps_the_shared_image(datasets_client):
    name = new_draft(datasets_client, "del")
    object_name = fill(datasets_client, name, "v1", 1203)

    deleted = datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS)

    assert deleted.status_code == 204
    assert deleted.data == b""
    assert stored_entry_count(name, "v1") == 0
    assert stored_versions(name) == []
    assert datasets_client.get(f"/{name}/v1", headers=HEADERS).status_code == 404
    assert object_name in image_names()  # content-addressed images are shared, never deleted with a version


def test_a_repeated_delete_of_a_version_is_404(datasets_client):
    name = new_draft(datasets_client, "del")
    assert datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS).status_code == 204

    again = datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS)

    assert again.status_code == 404
    assert_matches_contract(VERSION_PATH, "DELETE", 404, again.json)


def test_a_crash_between_batches_hides_the_version_and_the_repeat_finishes_it(datasets_client, failing_commit):
    name = new_draft(datasets_client, "del")
    fill(datasets_client, name, "v1", 1100)
    failing_commit(3)  # 1: the version marked deleting, 2: the first 500 entries, 3: fails

    crashed = datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS)

    assert crashed.status_code == 503, crashed.json
    assert stored_entry_count(name, "v1") == 600
    assert datasets_client.get(f"/{name}/v1", headers=HEADERS).status_code == 404
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 404
    listed = datasets_client.get("/", headers=HEADERS).json["items"]
    assert [d["versions"] for d in listed if d["name"] == name] == [[]]

    finished = datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS)

    assert finished.status_code == 204
    assert stored_entry_count(name, "v1") == 0
    assert stored_versions(name) == []


def test_a_published_version_is_409_and_stays_whole(datasets_client):
    name, _ = published_dataset(datasets_client, [generate_form(4300), generate_form(4301)])

    refused = datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS)

    assert refused.status_code == 409
    assert_matches_contract(VERSION_PATH, "DELETE", 409, refused.json)
    assert refused.json["error"]["details"] == {"name": name, "version": "v1"}
    assert datasets_client.get(f"/{name}/v1", headers=HEADERS).json["entry_count"] == 2
    assert stored_entry_count(name, "v1") == 2


def test_unknown_versions_and_datasets_are_404(datasets_client):
    name = new_draft(datasets_client, "del")

    assert datasets_client.delete(f"/{name}/versions/v9", headers=HEADERS).status_code == 404
    assert datasets_client.delete("/no_such_dataset_x/versions/v1", headers=HEADERS).status_code == 404
    assert stored_versions(name) == ["v1"]


@pytest.mark.parametrize(
    ("name", "version"),
    [("..", "v1"), ("ok", ".."), ("ok", "v1..2"), ("tab\tname", "v1"), ("ok", "ctl\x01"), ("nul\x00", "v1")],
)
def test_hostile_names_and_versions_are_422(datasets_client, name, version):
    response = datasets_client.delete(f"/{quote(name, safe='')}/versions/{quote(version, safe='')}", headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract(VERSION_PATH, "DELETE", 422, response.json)


@pytest.mark.parametrize("path", ["/a%2F..%2Fb/versions/v1", "/x/versions/..%2F..", "/x/versions/v1/../../y"])
def test_paths_that_try_to_escape_are_4xx(datasets_client, path):
    response = datasets_client.delete(path, headers=HEADERS)

    assert 400 <= response.status_code < 500
    assert response.json["error"]["code"]


def test_deleting_a_draft_releases_the_extractions_no_other_version_holds(datasets_client, extract_client):
    form = generate_form(4320)
    extracted = extract_client.post("/", json={"image_base64": base64.b64encode(form.image).decode()}, headers=HEADERS)
    assert extracted.status_code == 200, extracted.json
    extraction_id = extracted.json["extraction_id"]
    name = new_draft(datasets_client, "del")
    trace = {"span_id": extracted.json["span_id"], "trace_id": extracted.json["trace_id"]}
    assert datasets_client.post(f"/{name}/v1/from-trace", json=trace, headers=HEADERS).status_code == 201
    copied = datasets_client.post(f"/{name}/versions", json={"from_version": "v1", "version": "v2"}, headers=HEADERS)
    assert copied.status_code == 201

    assert datasets_client.delete(f"/{name}/versions/v2", headers=HEADERS).status_code == 204
    assert extraction_document(extraction_id)["in_dataset"] is True  # v1 still holds it

    assert datasets_client.delete(f"/{name}/versions/v1", headers=HEADERS).status_code == 204
    released = extraction_document(extraction_id)
    assert released["in_dataset"] is False
    assert released["datasets"] == []


# a dataset


def test_deleting_a_dataset_of_drafts_removes_every_version_and_the_dataset(datasets_client):
    name = new_draft(datasets_client, "del")
    fill(datasets_client, name, "v1", 3)
    assert datasets_client.post(f"/{name}/versions", json={"from_version": "v1", "version": "v2"}, headers=HEADERS)

    deleted = datasets_client.delete(f"/{name}", headers=HEADERS)

    assert deleted.status_code == 204
    assert stored_versions(name) == []
    assert stored_entry_count(name, "v1") == stored_entry_count(name, "v2") == 0
    assert not firestore_client().collection("datasets").document(name).get().exists
    assert all(d["name"] != name for d in datasets_client.get("/", headers=HEADERS).json["items"])
    assert datasets_client.delete(f"/{name}", headers=HEADERS).status_code == 404


def test_a_dataset_with_a_published_version_is_409_naming_it_and_nothing_is_deleted(datasets_client):
    name, _ = published_dataset(datasets_client, [generate_form(4310)])
    assert datasets_client.post(f"/{name}/versions", json={"from_version": "v1", "version": "v2"}, headers=HEADERS)

    refused = datasets_client.delete(f"/{name}", headers=HEADERS)

    assert refused.status_code == 409
    assert_matches_contract(DATASET_PATH, "DELETE", 409, refused.json)
    assert refused.json["error"]["details"] == {"name": name, "published_versions": ["v1"]}
    assert stored_versions(name) == ["v1", "v2"]
    assert stored_entry_count(name, "v2") == 1


def test_a_dataset_half_deleted_by_a_crash_is_finished_by_the_repeat(datasets_client, failing_commit):
    name = new_draft(datasets_client, "del")
    fill(datasets_client, name, "v1", 2)
    failing_commit(2)  # 1: v1 marked deleting, 2: its entries fail

    assert datasets_client.delete(f"/{name}", headers=HEADERS).status_code == 503

    assert datasets_client.delete(f"/{name}", headers=HEADERS).status_code == 204
    assert stored_versions(name) == []
    assert not firestore_client().collection("datasets").document(name).get().exists


@pytest.mark.parametrize("name", ["..", "tab\tname", "nul\x00", "UPPER"])
def test_hostile_dataset_names_are_422(datasets_client, name):
    response = datasets_client.delete(f"/{quote(name, safe='')}", headers=HEADERS)

    assert response.status_code == 422, response.json
    assert_matches_contract(DATASET_PATH, "DELETE", 422, response.json)


# The datasets function's own path words are never a dataset name: `/review` alone is no endpoint,
# `/candidates` is one that only reads.
@pytest.mark.parametrize(("word", "status"), [("review", 404), ("candidates", 405)])
def test_a_fixed_path_word_is_never_deleted_as_a_dataset(datasets_client, word, status):
    response = datasets_client.delete(f"/{word}", headers=HEADERS)

    assert response.status_code == status, response.json
    assert response.json["error"]["code"] in {"not_found", "method_not_allowed"}


def test_an_unknown_dataset_is_404(datasets_client):
    response = datasets_client.delete("/no_such_dataset_y", headers=HEADERS)

    assert response.status_code == 404
    assert_matches_contract(DATASET_PATH, "DELETE", 404, response.json)
