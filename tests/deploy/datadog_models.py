"""Check a dashboard or monitor against Datadog's own API models (datadog-api-client).

The client is lenient on purpose: an unknown enum value or a body that matches no `oneOf` is kept
as "unparsed" rather than refused, so a forward-compatible client still reads new API answers.
Here that leniency is what we look for: anything unparsed is a field Datadog's models do not know.
"""

from __future__ import annotations

from typing import Any

from datadog_api_client.configuration import Configuration
from datadog_api_client.model_utils import (
    ModelComposed,
    ModelNormal,
    ModelSimple,
    UnparsedObject,
    validate_and_convert_types,
)


def unparsed_paths(model: type, body: dict[str, Any]) -> list[str]:
    """Where `body`, read as `model`, holds something Datadog's models do not know; [] when none.

    Raises whatever the client raises for a body it cannot read at all (a missing required field,
    a wrong type).
    """
    parsed = validate_and_convert_types(body, (model,), ["body"], True, True, Configuration())
    found: list[str] = []
    _walk(parsed, "body", found)
    return found


def _walk(value: Any, path: str, found: list[str]) -> None:
    if isinstance(value, UnparsedObject):
        found.append(f"{path}: matches no model ({dict(value._data_store)})")
        return
    if isinstance(value, ModelSimple):
        if getattr(value, "_unparsed", False):
            found.append(f"{path}: {value.value!r} is not one of {sorted(value.allowed_values)}")
        return
    if isinstance(value, ModelNormal | ModelComposed):
        if getattr(value, "_unparsed", False):
            found.append(f"{path}: matches no model")
        for key, item in value._data_store.items():
            _walk(item, f"{path}.{key}", found)
        if isinstance(value, ModelComposed):
            for instance in value._composed_instances:
                for key, item in instance._data_store.items():
                    _walk(item, f"{path}.{key}", found)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}", found)
