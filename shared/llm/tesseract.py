"""The offline extraction model: Tesseract OCR with deskew and table-line removal, then a parser.

No ddtrace integration covers it, so each call opens an explicit llm span with the model name,
provider, input and output. The OCR libraries are imported on first use (cold start).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, ValidationError

from shared.errors import InvalidField, ModelOutputInvalid, ModelUnavailable
from shared.llm.base import ModelRequest, ModelResponse
from shared.models import TokenUsage
from shared.observability.llmobs import annotate, explicit_llm_span


class TesseractParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deskew: StrictBool = True
    remove_lines: StrictBool = True


class TesseractModel:
    """`alternate=True` reads with other page variants and segmentation modes first (the cross
    check's second reading); `span_name` names its llm span."""

    model_name = "tesseract"
    provider = "tesseract-ocr"
    takes_generation_settings = False  # it does not sample: a prompt's temperature means nothing to it

    def __init__(self, *, alternate: bool = False, span_name: str = "extract_votes") -> None:
        self.alternate = alternate
        self.span_name = span_name

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return TesseractParams.model_validate(dict(params)).model_dump()
        except ValidationError as error:
            raise InvalidField(
                "Bad params for model tesseract: only deskew and remove_lines (booleans) are accepted.",
                details={"field": "params", "errors": error.errors(include_url=False, include_input=False)},
            ) from None

    def extract(self, request: ModelRequest) -> ModelResponse:
        params = self.validate_params(request.params)
        with explicit_llm_span(model_name=self.model_name, provider=self.provider, name=self.span_name) as span:
            annotate(
                span,
                input_data=[
                    {"role": "user", "content": request.text},
                    {"role": "user", "content": f"[image: {request.content_type}, {len(request.image)} bytes]"},
                ],
                metadata={
                    "prompt_version": request.prompt.version,
                    "alternate_passes": self.alternate,
                    "form_type": request.form_type.ref,
                    **params,
                },
            )
            try:
                from shared.llm.ocr.reader import ALTERNATE_PASSES, TESSERACT_PASSES, read_form

                reading = read_form(
                    request.image,
                    deskew=params["deskew"],
                    remove_lines=params["remove_lines"],
                    passes=ALTERNATE_PASSES if self.alternate else TESSERACT_PASSES,
                    form_type=request.form_type,
                )
            except ValueError as error:
                raise ModelOutputInvalid(f"Tesseract could not read the image: {error}") from error
            except (OSError, RuntimeError) as error:  # tesseract missing or crashed
                raise ModelUnavailable(f"Tesseract failed: {error}") from error
            output = reading.extraction.model_dump_json()
            annotate(
                span,
                output_data=[{"role": "assistant", "content": output}],
                metadata={"deskew_angle_deg": round(reading.angle_deg, 2)},
            )
        return ModelResponse(extraction=reading.extraction, usage=TokenUsage(), raw_output=output, boxes=reading.boxes)

    async def extract_async(self, request: ModelRequest) -> ModelResponse:
        return await asyncio.to_thread(self.extract, request)
