"""What we send Gemini: the image before the instruction, and structured output in the paper's shape.

Built as google-genai types for `generate_content`; the REST path (`shared.llm.gemini.rest`)
takes its response schema from the same config, so both paths ask for the same answer. The
instruction and the schema both come from the request's form type (`paper_prompt`,
`answer_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.genai import types

from shared.form_types.model import FormType
from shared.llm.base import ModelRequest
from shared.llm.gemini.answer_schema import answer_model
from shared.llm.gemini.paper_prompt import prompt_text


def request_contents(request: ModelRequest) -> types.Content:
    """The user turn: the form image, then the prompt's instruction with the paper's section."""
    # The image before the instruction, as Google recommends for single-image prompts.
    return types.Content(
        role="user",
        parts=[
            types.Part.from_bytes(data=request.image, mime_type=request.content_type),
            types.Part.from_text(text=prompt_text(request)),
        ],
    )


def generate_content_config(params: Mapping[str, Any], form_type: FormType) -> types.GenerateContentConfig:
    """The generation config: the variant's validated params and a JSON answer shaped by `form_type`."""
    return types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=answer_model(form_type), **params
    )
