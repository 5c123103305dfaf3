"""Extraction models behind one interface, found by name (`get_model_client`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from shared.config import Settings
from shared.errors import InvalidField
from shared.llm.base import ModelClient, ModelRequest, ModelResponse, params_with_prompt_settings
from shared.llm.tesseract import TesseractModel, TesseractParams

_GEMINI_MODEL = re.compile(r"^gemini-[a-z0-9][a-z0-9.-]{0,62}$")

__all__ = [
    "ModelClient",
    "ModelRequest",
    "ModelResponse",
    "get_model_client",
    "model_options",
    "params_with_prompt_settings",
]

# The Gemini ids offered to pickers (GET /extract/options); any other gemini-* id is accepted too.
LISTED_GEMINI_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro")


def get_model_client(model: str, settings: Settings) -> ModelClient:
    """`tesseract` or any `gemini-*` id; unknown or unconfigured models are InvalidField (422)."""
    if model == "tesseract":
        return TesseractModel()
    if _GEMINI_MODEL.match(model):
        if not settings.gemini_configured:
            raise InvalidField(
                f"Model {model!r} needs Gemini configured (GEMINI_API_KEY or GEMINI_USE_VERTEX=true); "
                "this deployment offers 'tesseract'.",
                details={"field": "model"},
            )
        from shared.llm.gemini import GeminiModel

        return GeminiModel(model, settings=settings)
    raise InvalidField(
        f"Unknown model {model!r}: use 'tesseract' or a Gemini model id such as 'gemini-2.5-flash'.",
        details={"field": "model"},
    )


def model_options(settings: Settings) -> list[dict[str, Any]]:
    """What a client may pick: `tesseract` (always available) and the listed Gemini models,
    `available` only when Gemini is configured; each with its params' JSON type and default, read
    from the same pydantic models `validate_params` checks with."""
    from shared.llm.gemini import GeminiParams

    options = [{"id": "tesseract", "available": True, "params": _params_of(TesseractParams)}]
    gemini_params = _params_of(GeminiParams)
    for model in LISTED_GEMINI_MODELS:
        options.append({"id": model, "available": settings.gemini_configured, "params": gemini_params})
    return options


def _params_of(model: type[BaseModel]) -> dict[str, dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    for name, schema in model.model_json_schema()["properties"].items():
        typed = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
        spec: dict[str, Any] = {"type": typed.get("type", "string"), "default": schema.get("default")}
        for bound in ("minimum", "maximum"):
            if bound in typed:
                spec[bound] = typed[bound]
        params[name] = spec
    return params
