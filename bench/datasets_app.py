"""The `datasets` function as Cloud Functions serves it, in process, for benchmarks that need data."""

from __future__ import annotations

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
