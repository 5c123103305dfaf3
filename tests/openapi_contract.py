"""Check a response against `openapi.yaml`, so the published contract stays true."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).resolve().parents[1] / "openapi.yaml"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    operation = spec()["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = spec()["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]


def assert_matches_contract(path: str, method: str, status: int, body: Any) -> None:
    """Raise with every violation when `body` is not what openapi.yaml promises."""
    schema = {**response_schema(path, method, status), "components": spec()["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status} breaks openapi.yaml: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
    )
