"""Test data built through the API, as a user would: published datasets, a perfect Gemini stand-in."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid

from shared.config import get_settings
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply

HEADERS = {"X-API-Key": TEST_API_KEY}


def new_draft(datasets_client, prefix: str) -> str:
    """A new dataset with an empty draft `v1`; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    assert datasets_client.post("/", json={"name": name, "version": "v1"}, headers=HEADERS).status_code == 201
    return name


def published_dataset(
    datasets_client, forms, *, reference_docs: str = "Candidate votes add up to the valid votes."
) -> tuple[str, dict[bytes, dict]]:
    """A published dataset of these forms, each entry with `reference_docs`; returns its name and
    image bytes -> truth."""
    name = new_draft(datasets_client, "exp")
    entries = [
        {
            "id": f"form-{i:03d}",
            "input": {"image_base64": base64.b64encode(form.image).decode()},
            "expected_output": form.truth.model_dump(),
            "reference_docs": reference_docs,
        }
        for i, form in enumerate(forms)
    ]
    assert datasets_client.post(f"/{name}/v1/entries", json={"entries": entries}, headers=HEADERS).status_code == 201
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200
    return name, {form.image: form.truth.model_dump() for form in forms}


def answered_by_truth(datasets_client, gemini, forms) -> str:
    """A published dataset of these forms, the Gemini stand-in answering each image with its truth."""
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    return dataset


def truth_responder(truths: dict[bytes, dict]):
    """The Gemini stand-in answers each image with its ground truth (a perfect model)."""

    def respond(request):
        return extraction_reply(truths[request.images[0].data])

    return respond


def large_published_dataset(datasets_client, forms, size: int) -> tuple[str, list[str]]:
    """A published dataset of `size` entries that cycle through `forms` (entry i shows form
    i % len(forms)): the images are uploaded once, the rest imported by image_uri as JSONL.
    Returns its name and each entry's form index, in id order."""
    name = new_draft(datasets_client, "big")
    first = [
        {
            "id": f"e{i:05d}",
            "input": {"image_base64": base64.b64encode(form.image).decode()},
            "expected_output": form.truth.model_dump(),
        }
        for i, form in enumerate(forms)
    ]
    created = datasets_client.post(f"/{name}/v1/entries", json={"entries": first}, headers=HEADERS)
    assert created.status_code == 201, created.json
    bucket = get_settings().images_bucket  # images are content-addressed: their URIs are known
    uris = [f"gs://{bucket}/images/sha256/{hashlib.sha256(form.image).hexdigest()}" for form in forms]
    lines = [
        json.dumps(
            {
                "id": f"e{i:05d}",
                "input": {"image_uri": uris[i % len(forms)]},
                "expected_output": forms[i % len(forms)].truth.model_dump(),
            }
        )
        for i in range(len(forms), size)
    ]
    imported = datasets_client.post(
        f"/{name}/v1/import", data="\n".join(lines), headers=HEADERS, content_type="application/x-ndjson"
    )
    assert imported.status_code == 200 and imported.json["imported"] == size - len(forms), imported.json
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200
    return name, [i % len(forms) for i in range(size)]


def wait_done(experiments_client, experiment_id: str, timeout: float = 240) -> dict:
    """The experiment once it has finished (completed or failed), polled through the API."""
    deadline = time.monotonic() + timeout
    while True:
        status = experiments_client.get(f"/{experiment_id}", headers=HEADERS).json
        if status["status"] in ("completed", "failed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
