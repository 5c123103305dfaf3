"""Import and export at more than one Firestore batch, and the round trip export -> import -> export."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY

HEADERS = {"X-API-Key": TEST_API_KEY}
COUNT = 1_200  # three Firestore batches


@pytest.fixture(scope="module")
def image_uri(datasets_client) -> str:
    name = f"img_{uuid.uuid4().hex[:8]}"
    datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS)
    form = generate_form(91)
    body = {
        "input": {"image_base64": base64.b64encode(form.image).decode()},
        "expected_output": form.truth.model_dump(),
    }
    datasets_client.post(f"/{name}/v1/entries", json=body, headers=HEADERS)
    return datasets_client.get(f"/{name}/v1", headers=HEADERS).json["entries"][0]["input"]["image_uri"]


def draft(datasets_client) -> str:
    name = f"io_{uuid.uuid4().hex[:8]}"
    assert datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS).status_code == 201
    return name


def jsonl(image_uri: str, count: int) -> bytes:
    truths = [generate_form(seed).truth.model_dump() for seed in range(5)]
    lines = []
    for i in range(count):
        truth = truths[i % 5]
        lines.append(
            json.dumps(
                {
                    "id": f"row-{i:05d}",
                    "input": {"image_uri": image_uri, "metadata": {"row": i}},
                    "expected_output": truth,
                    "reference_docs": f"Form {i}: counts are integers.",
                    "tags": {"batch": str(i % 3)},
                    "validated": i % 2 == 0,
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


def export(datasets_client, name: str, fmt: str = "jsonl") -> str:
    response = datasets_client.get(f"/{name}/v1/export?format={fmt}", headers=HEADERS)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def content(exported: str) -> dict[str, str]:
    return {row["id"]: row["content_sha256"] for row in map(json.loads, exported.splitlines())}


def test_import_many_then_round_trip_through_jsonl(datasets_client, image_uri):
    first = draft(datasets_client)

    imported = datasets_client.post(
        f"/{first}/v1/import", data=jsonl(image_uri, COUNT), content_type="application/x-ndjson", headers=HEADERS
    )

    assert imported.status_code == 200 and imported.json == {"imported": COUNT, "rejected": [], "rejected_count": 0}
    assert datasets_client.get(f"/{first}/v1?page_size=1", headers=HEADERS).json["entry_count"] == COUNT
    exported = export(datasets_client, first)
    assert len(exported.splitlines()) == COUNT

    second = draft(datasets_client)
    again = datasets_client.post(
        f"/{second}/v1/import", data=exported.encode(), content_type="application/x-ndjson", headers=HEADERS
    )
    assert again.json["imported"] == COUNT
    assert content(export(datasets_client, second)) == content(exported)


def test_round_trip_through_csv(datasets_client, image_uri):
    first = draft(datasets_client)
    datasets_client.post(
        f"/{first}/v1/import", data=jsonl(image_uri, 30), content_type="application/x-ndjson", headers=HEADERS
    )
    as_csv = export(datasets_client, first, "csv")

    second = draft(datasets_client)
    imported = datasets_client.post(
        f"/{second}/v1/import", data=as_csv.encode(), content_type="text/csv", headers=HEADERS
    )

    assert imported.json["imported"] == 30, imported.json
    assert content(export(datasets_client, second)) == content(export(datasets_client, first))
