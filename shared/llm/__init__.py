"""Extraction models behind one interface, found by name (`get_model_client`)."""

from __future__ import annotations

import re

from shared.config import Settings
from shared.errors import InvalidField
from shared.llm.base import ModelClient, ModelRequest, ModelResponse

_GEMINI_MODEL = re.compile(r"^gemini-[a-z0-9][a-z0-9.-]{0,62}$")

__all__ = ["ModelClient", "ModelRequest", "ModelResponse", "get_model_client"]


def get_model_client(model: str, settings: Settings) -> ModelClient:
    """`tesseract` or any `gemini-*` id; unknown or unconfigured models are InvalidField (422)."""
    if model == "tesseract":
        from shared.llm.tesseract import TesseractModel

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
