"""What we send Gemini: the image before the instruction, and structured output as VoteExtraction.

Built as google-genai types for `generate_content`; the REST path (`shared.llm.gemini.rest`)
takes its response schema from the same config, so both paths ask for the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.genai import types

from shared.llm.base import ModelRequest
from shared.models import VoteExtraction


def request_contents(request: ModelRequest) -> types.Content:
    """The user turn: the form image, then the prompt's instruction."""
    # The image before the instruction, as Google recommends for single-image prompts.
    return types.Content(
        role="user",
        parts=[
            types.Part.from_bytes(data=request.image, mime_type=request.content_type),
            types.Part.from_text(text=request.text),
        ],
    )


def generate_content_config(params: Mapping[str, Any]) -> types.GenerateContentConfig:
    """The generation config: the variant's validated params and a VoteExtraction JSON answer."""
    return types.GenerateContentConfig(response_mime_type="application/json", response_schema=VoteExtraction, **params)
