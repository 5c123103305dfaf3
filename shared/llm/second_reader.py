"""The cross check's second reader: who reads a form again, and the reading itself.

A second reading is only worth something when it errs differently from the first, so the reader
is another model family, or the same OCR with other preprocessing:

| primary                  | second reader (CROSS_CHECK_READER empty)                          |
|--------------------------|-------------------------------------------------------------------|
| a Gemini model           | `tesseract` where it is installed (free; locally, tests, a        |
|                          | container deploy), else CROSS_CHECK_GEMINI_MODEL (gemini-2.5-     |
|                          | flash-lite; gemini-2.5-flash when that is the primary) with the   |
|                          | terse transcription prompt                                         |
| tesseract                | CROSS_CHECK_GEMINI_MODEL when Gemini is configured; else          |
|                          | tesseract with preprocessing when the primary ran without it,     |
|                          | or `tesseract-alternate` (other page variants and modes first)     |

The reading opens its own llm span (tagged `reading:cross_check`) in the caller's trace. Every
failure becomes a `SecondReading` with an error: a cross check never fails an extraction.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings
from shared.errors import VoteExtractorError
from shared.form_types.model import FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.llm import get_model_client
from shared.llm.base import ModelRequest
from shared.llm.tesseract import TesseractModel
from shared.models import FieldBoxes, SpanRef, TokenUsage, VoteExtraction
from shared.observability import llmobs
from shared.prompts import CROSS_CHECK_PROMPT

TESSERACT_READERS = ("tesseract", "tesseract-alternate")
SPAN_TAGS = {"reading": "cross_check"}
# The second reader of an extraction by CROSS_CHECK_GEMINI_MODEL itself: another model.
FALLBACK_GEMINI_READER = "gemini-2.5-flash"


@dataclass(frozen=True)
class SecondReading:
    """What the second reader read (or why it could not), with its cost and its span."""

    reader: str
    extraction: VoteExtraction | None
    error: str | None = None
    latency_ms: float = 0.0
    usage: TokenUsage = field(default_factory=TokenUsage)
    span: SpanRef | None = None
    boxes: FieldBoxes = field(default_factory=dict)  # where it read each count, by its own field paths


def check_reader_name(reader: str) -> str:
    """A reader name as CROSS_CHECK_READER and the evaluator's `reader` param take it."""
    if reader in TESSERACT_READERS or (reader.startswith("gemini-") and len(reader) <= 80):
        return reader
    raise ValueError(f"reader must be one of {', '.join(TESSERACT_READERS)} or a gemini-* model id, not {reader!r}")


def tesseract_installed() -> bool:
    return shutil.which("tesseract") is not None


def choose_second_reader(primary_model: str, primary_params: Mapping[str, Any], *, settings: Settings) -> str:
    """The second reader for an extraction by `primary_model` (see the module's table)."""
    if settings.cross_check_reader:
        return check_reader_name(settings.cross_check_reader)
    if primary_model != "tesseract":
        if tesseract_installed():
            return "tesseract"
        cheaper = settings.cross_check_gemini_model
        return cheaper if cheaper != primary_model else FALLBACK_GEMINI_READER
    if settings.gemini_configured:
        return settings.cross_check_gemini_model
    preprocessed = primary_params.get("deskew", True) and primary_params.get("remove_lines", True)
    return "tesseract-alternate" if preprocessed else "tesseract"


def read_again(
    reader: str,
    *,
    image: bytes,
    content_type: str,
    settings: Settings,
    tags: Mapping[str, str],
    form_type: FormType = GENERIC_FORM_TYPE,
) -> SecondReading:
    """Read the image with `reader`; never raises (a failure is a reading with an error). Its llm
    span gets the primary reading's `tags` and `reading:cross_check`. A Gemini reader is asked
    for the primary reading's `form_type` (its statistics, its words), so the two readings
    compare key for key."""

    started = time.perf_counter()
    try:
        client, params = _client(reader, settings)
        request = ModelRequest(
            image=image, content_type=content_type, prompt=CROSS_CHECK_PROMPT, params=params, form_type=form_type
        )
        with llmobs.capture_llm_span(tags={**tags, **SPAN_TAGS}) as captured:
            response = client.extract(request)
    except VoteExtractorError as error:  # ModelError, or InvalidField for a Gemini reader not configured
        return SecondReading(reader=reader, extraction=None, error=error.message, latency_ms=_since(started))
    except Exception as error:  # a cross check must never fail the extraction it checks
        return SecondReading(
            reader=reader, extraction=None, error=f"{type(error).__name__}: {error}", latency_ms=_since(started)
        )
    return SecondReading(
        reader=reader,
        extraction=response.extraction,
        latency_ms=_since(started),
        usage=response.usage,
        span=captured.ref,
        boxes=response.boxes,
    )


def _client(reader: str, settings: Settings) -> tuple[Any, dict[str, Any]]:
    if reader in TESSERACT_READERS:
        model = TesseractModel(alternate=reader == "tesseract-alternate", span_name="cross_check_read")
        return model, {}
    return get_model_client(reader, settings), {"temperature": 0.0}


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
