"""Datasets at size: import 10,000 entries, export them back, and export's peak memory.

Starts its own Firestore and Cloud Storage emulators on free ports and drives the `datasets`
function as Cloud Functions serves it (functions-framework's app, in process).

    python -m bench.dataset_io [--entries 10000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.datasets_app import datasets_client, new_draft
from bench.machine import describe_machine
from infra.local.emulators import ensure_bucket, free_ports, start_firestore, start_gcs

API_KEY = "bench-key"
HEADERS = {"X-API-Key": API_KEY}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()

    firestore_port, gcs_port = free_ports(2)
    logs = Path(tempfile.mkdtemp())
    project, bucket = "vote-extractor-bench", "vote-extractor-images"
    firestore = start_firestore(firestore_port, logs)
    gcs = start_gcs(gcs_port, logs)
    os.environ.update(
        {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
            "GCP_PROJECT": project,
            "IMAGES_BUCKET": bucket,
            "API_KEYS": API_KEY,
            "LLMOBS_ENABLED": "false",
        }
    )
    ensure_bucket(f"http://127.0.0.1:{gcs_port}", project, bucket)
    try:
        run(args.entries)
    finally:
        firestore.stop()
        gcs.stop()


def run(count: int) -> None:
    from shared.synthetic.forms import generate_form
    from shared.wiring.datasets import dataset_service

    client = datasets_client()

    def draft() -> str:
        return new_draft(client, HEADERS)

    seed_form = generate_form(1)
    holder = draft()
    client.post(
        f"/{holder}/v1/entries",
        json={
            "input": {"image_base64": base64.b64encode(seed_form.image).decode()},
            "expected_output": seed_form.truth.model_dump(),
        },
        headers=HEADERS,
    )
    image_uri = client.get(f"/{holder}/v1", headers=HEADERS).json["entries"][0]["input"]["image_uri"]
    truths = [generate_form(seed).truth.model_dump() for seed in range(10)]

    def body(n: int) -> bytes:
        rows = (
            json.dumps(
                {
                    "id": f"r{i:06d}",
                    "input": {"image_uri": image_uri},
                    "expected_output": truths[i % 10],
                    "tags": {"k": str(i % 7)},
                }
            )
            for i in range(n)
        )
        return ("\n".join(rows) + "\n").encode()

    results = {}
    sizes = sorted({1_000, count})
    names = {}
    for size in sizes:
        name = draft()
        started = time.perf_counter()
        report = client.post(
            f"/{name}/v1/import", data=body(size), content_type="application/x-ndjson", headers=HEADERS
        ).json
        import_s = time.perf_counter() - started
        assert report["imported"] == size, report
        started = time.perf_counter()
        exported = client.get(f"/{name}/v1/export?format=jsonl", headers=HEADERS).get_data()
        export_s = time.perf_counter() - started
        tracemalloc.start()
        lines = sum(1 for _ in dataset_service().export(name, "v1", "jsonl"))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert lines == size
        names[size] = (name, exported)
        results[size] = (import_s, export_s, peak / 2**20, len(exported) / 2**20)

    name, exported = names[count]
    copy = draft()
    client.post(f"/{copy}/v1/import", data=exported, content_type="application/x-ndjson", headers=HEADERS)
    again = client.get(f"/{copy}/v1/export?format=jsonl", headers=HEADERS).get_data()
    same = _content(exported) == _content(again)

    print(describe_machine())
    print("Firestore emulator + fake-gcs-server; the datasets function in process (functions-framework app)")
    header = ("entries", "import s", "entries/s", "export s", "export MiB", "export peak MiB")
    print(" ".join(f"{h:>{max(9, len(h))}s}" for h in header))
    for size, (import_s, export_s, peak_mib, size_mib) in results.items():
        print(f"{size:9d} {import_s:9.1f} {size / import_s:9.0f} {export_s:9.1f} {size_mib:10.1f} {peak_mib:15.2f}")
    print(f"round trip of {count}: export -> import -> export has the same content: {same}")


def _content(exported: bytes) -> dict[str, str]:
    return {row["id"]: row["content_sha256"] for row in map(json.loads, exported.splitlines())}


if __name__ == "__main__":
    main()
