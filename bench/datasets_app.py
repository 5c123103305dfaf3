"""The `datasets` function as Cloud Functions serves it, in process, for benchmarks that need data."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def datasets_client() -> Any:
    import functions_framework

    return functions_framework.create_app(
        target="datasets", source=str(ROOT / "functions/datasets/main.py")
    ).test_client()


def new_draft(client: Any, headers: dict[str, str]) -> str:
    """A fresh draft version `bench_<random>@v1`; its name."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    response = client.post("/", json={"name": name, "version": "v1"}, headers=headers)
    assert response.status_code == 201, response.json
    return name


def published_datasets(sizes: set[int], headers: dict[str, str]) -> tuple[dict[int, str], str]:
    """A published dataset per size (its name by size), every entry the same stored form image and
    expected output, imported as NDJSON; and that image's gs:// URI."""
    from shared.synthetic.forms import generate_form
    from tests.fakes.gemini_server import SAMPLE_EXTRACTION

    client = datasets_client()
    holder = new_draft(client, headers)
    image = base64.b64encode(generate_form(1).image).decode()
    client.post(
        f"/{holder}/v1/entries",
        json={"input": {"image_base64": image}, "expected_output": SAMPLE_EXTRACTION},
        headers=headers,
    )
    image_uri = client.get(f"/{holder}/v1", headers=headers).json["entries"][0]["input"]["image_uri"]
    names = {}
    for size in sorted(sizes):
        name = new_draft(client, headers)
        rows = "\n".join(
            json.dumps({"id": f"r{i:06d}", "input": {"image_uri": image_uri}, "expected_output": SAMPLE_EXTRACTION})
            for i in range(size)
        )
        report = client.post(
            f"/{name}/v1/import", data=rows.encode(), content_type="application/x-ndjson", headers=headers
        ).json
        assert report["imported"] == size, report
        assert client.post(f"/{name}/v1/publish", headers=headers).status_code == 200
        names[size] = name
    return names, image_uri
