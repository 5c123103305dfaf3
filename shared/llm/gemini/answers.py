"""Gemini's answer as a ModelResponse (extraction, token usage, raw text), or ModelBlocked /
ModelOutputInvalid when it holds no usable extraction. The extraction is put in its form type's
shape (`shared.form_types.checks.shaped`): exactly the type's statistics, words only where the
paper has them.

Two readers for the same answer: google-genai's `GenerateContentResponse` (sync calls, Vertex AI
async calls) and the REST JSON the lean path receives (camelCase fields, enums as names).
"""

from __future__ import annotations

import json
from typing import Any

from google.genai import types
from pydantic import ValidationError

from shared.errors import ModelBlocked, ModelOutputInvalid
from shared.form_types.checks import shaped
from shared.form_types.model import FormType
from shared.llm.base import ModelResponse
from shared.llm.gemini.answer_boxes import take_boxes
from shared.llm.gemini.answer_schema import ROW_BOX_FIELD, STATISTICS_BOX_FIELD
from shared.llm.gemini.error_mapping import ModelRef
from shared.models import FieldBoxes, TokenUsage, VoteExtraction

_BLOCKING_FINISH_REASONS = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.RECITATION,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.SPII,
        types.FinishReason.IMAGE_SAFETY,
        types.FinishReason.IMAGE_PROHIBITED_CONTENT,
        types.FinishReason.IMAGE_RECITATION,
        types.FinishReason.MODEL_ARMOR,
    }
)
_BLOCKING_FINISH_NAMES = frozenset(reason.value for reason in _BLOCKING_FINISH_REASONS)
RAW_OUTPUT_DETAIL_CHARS = 2000


def read_sdk_response(
    response: types.GenerateContentResponse, *, model: ModelRef, form_type: FormType
) -> ModelResponse:
    """The ModelResponse in google-genai's answer; raises ModelBlocked or ModelOutputInvalid."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _enum_name(feedback.block_reason)
        suffix = f": {feedback.block_reason_message}" if feedback.block_reason_message else "."
        raise ModelBlocked(
            f"{model.title} blocked the prompt ({reason}){suffix}", details=model.details(block_reason=reason)
        )
    if not response.candidates:
        raise ModelBlocked(f"{model.title} returned no candidates.", details=model.details(block_reason=None))
    finish_reason = response.candidates[0].finish_reason
    finish = _enum_name(finish_reason) if finish_reason is not None else None
    if finish_reason in _BLOCKING_FINISH_REASONS:
        raise ModelBlocked(
            f"{model.title} stopped its answer (finish reason {finish}).",
            details=model.details(finish_reason=finish),
        )
    text = response.text
    if not text:
        raise ModelBlocked(
            f"{model.title} answered no text (finish reason {finish}).", details=model.details(finish_reason=finish)
        )
    # The text, not `response.parsed`: that is the type's schema model (`answer_schema`), not ours.
    extraction, boxes = _parse_text(text, finish, model, form_type)
    return ModelResponse(extraction=extraction, usage=_token_usage(response), raw_output=text, boxes=boxes)


def read_rest_answer(body: dict[str, Any], *, model: ModelRef, form_type: FormType) -> ModelResponse:
    """`read_sdk_response` for the REST JSON answer (camelCase fields, enums as names)."""
    feedback = body.get("promptFeedback") or {}
    if feedback.get("blockReason"):
        reason = str(feedback["blockReason"])
        suffix = f": {feedback['blockReasonMessage']}" if feedback.get("blockReasonMessage") else "."
        raise ModelBlocked(
            f"{model.title} blocked the prompt ({reason}){suffix}", details=model.details(block_reason=reason)
        )
    candidates = body.get("candidates") or []
    if not candidates:
        raise ModelBlocked(f"{model.title} returned no candidates.", details=model.details(block_reason=None))
    candidate = candidates[0]
    finish = candidate.get("finishReason")
    if finish in _BLOCKING_FINISH_NAMES:
        raise ModelBlocked(
            f"{model.title} stopped its answer (finish reason {finish}).",
            details=model.details(finish_reason=finish),
        )
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(part["text"] for part in parts if isinstance(part.get("text"), str) and not part.get("thought"))
    if not text:
        raise ModelBlocked(
            f"{model.title} answered no text (finish reason {finish}).", details=model.details(finish_reason=finish)
        )
    usage = body.get("usageMetadata") or {}
    input_tokens = usage.get("promptTokenCount") or 0
    output_tokens = usage.get("candidatesTokenCount") or 0
    extraction, boxes = _parse_text(text, finish, model, form_type)
    return ModelResponse(
        extraction=extraction,
        usage=TokenUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=usage.get("totalTokenCount") or input_tokens + output_tokens,
        ),
        raw_output=text,
        boxes=boxes,
    )


def _parse_text(
    text: str, finish: str | None, model: ModelRef, form_type: FormType
) -> tuple[VoteExtraction, FieldBoxes]:
    """The answer's extraction and its boxes (taken out first: the rest is a VoteExtraction)."""
    answer: Any = None
    if ROW_BOX_FIELD in text or STATISTICS_BOX_FIELD in text:
        try:
            answer = json.loads(text)
        except ValueError:
            pass  # not JSON: pydantic says what is wrong with it below
    boxes = take_boxes(answer, form_type)
    extraction_json = json.dumps(answer) if isinstance(answer, dict) else text
    try:
        return shaped(VoteExtraction.model_validate_json(extraction_json), form_type), boxes
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        if any(problem["type"] == "json_invalid" for problem in problems):
            what = "is not valid JSON"
        else:
            what = "is JSON but not a VoteExtraction"
        hint = " The answer was cut at max_output_tokens." if finish == "MAX_TOKENS" else ""
        raise ModelOutputInvalid(
            f"{model.title}'s answer {what} ({problems[0]['msg']}).{hint}",
            details=model.details(
                finish_reason=finish,
                errors=[{"loc": list(problem["loc"]), "msg": problem["msg"]} for problem in problems[:20]],
                raw_output=text[:RAW_OUTPUT_DETAIL_CHARS],
            ),
        ) from None


def _token_usage(response: types.GenerateContentResponse) -> TokenUsage:
    usage = response.usage_metadata
    if usage is None:
        return TokenUsage()
    input_tokens = usage.prompt_token_count or 0
    output_tokens = usage.candidates_token_count or 0
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=usage.total_token_count or input_tokens + output_tokens,
    )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))
