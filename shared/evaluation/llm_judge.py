"""`llm_judge`: a rubric applied by a Gemini model (LLM-as-judge), configured per experiment.

Params (validated when the evaluator is built, so a bad one is a 422 before anything runs):

- `rubric` (required): the criteria, at most `MAX_RUBRIC_CHARS` characters.
- `output`: `score` (an integer 1-5, passing at `pass_threshold`, default 4), `categorical`
  (one of `classes`, 2-10 distinct strings, passing when in `pass_classes`) or `boolean`
  (passing when true).
- `label`: makes several judges in one experiment distinct: the evaluations are recorded as
  `llm_judge_<label>` (plain `llm_judge` without one). Datadog labels allow letters, digits and
  underscores only, hence the pattern.
- `model`: a Gemini model id; empty means `LLM_JUDGE_MODEL`. Temperature is fixed at 0.
- `sees_image`: the form's image goes into the request as an image part before the rubric, and the
  judge may judge without an expected output (a reference-free rubric such as "every figure in
  the answer matches the figure on the paper"). Extract hands it the uploaded image, an experiment
  the entry's (`judge_image`); without an image the result is skipped. The image's tokens are in
  the judge's usage and cost as Gemini reports them, `details["image_tokens"]` gives the documented
  figure for its size, and the cost estimate counts them.
- `examples`: few-shot verdicts of reviewers, `[{extraction_id, verdict: pass|fail, note?,
  output}]` (a stored judge's, `shared.evaluation.judges`), quoted before the output to judge;
  an example may carry its form's `image` and `image_content_type` (in process only: the
  alignment hands them in), sent as image parts when the judge sees images.
- `judge`: the stored judge version (`name@n`) these params came from, tagged on the evaluation.

The judge sees the rubric, the entry's expected output, its reference documents when it has
some, the model's output and, with `sees_image`, the form's image, and answers JSON
`{reasoning, value}` (structured output). The result records the value, the reasoning and
pass/fail; `details` hold the judge model, its token `usage` and `cost_usd`, which the
experiment runner adds to what the experiment spent (budget) and extract to the extraction's
`usage.judges`, and the judge's own llm span. An answer that is not that JSON, or whose value is out of range,
raises `JudgeAnswerInvalid`: a recorded evaluator failure (`error` set), whose `details` still
carry the tokens paid for. Without a Gemini key, or without an output to judge, the result is
skipped (as for the Ragas judges).

The judge's call is an llm span (ddtrace's google-genai integration opens it, with the messages
and token counts) in the same trace as the span it judges: the experiment run's llm span, or the
extraction's for an online judge (`ONLINE_JUDGES`, which the review queue's agreement endpoint
checks against reviewers' verdicts).

google-genai is imported inside `evaluate` only: this module stays light for `extract`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from shared.evaluation.base import Evaluator, EvaluatorContext, EvaluatorResult, settings_given, wired
from shared.evaluation.judge_image import ESTIMATED_IMAGE_TOKENS, image_size, image_tokens, judged_image
from shared.evaluation.ragas_metrics import (
    NO_KEY_REASON,
    NO_OUTPUT_REASON,
    judged_form_type,
    labelled_json,
    reference_docs,
    skipped,
)
from shared.evaluation.registry import register
from shared.llm.pricing import estimated_cost_usd, estimated_tokens
from shared.models import Assessment, MetricType, VoteExtraction
from shared.observability import llmobs

if TYPE_CHECKING:
    from shared.config import Settings

JUDGE_OUTPUTS = ("score", "categorical", "boolean")
MAX_RUBRIC_CHARS = 4000
MAX_CLASSES = 10
MAX_CLASS_CHARS = 40
MAX_REASONING_CHARS = 2000
_MAX_DOCS_CHARS = 20_000  # reference documents quoted to the judge, at most
_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MODEL = re.compile(r"^gemini[a-z0-9.\-]{0,74}$")
# What one judge call is assumed to use, for cost estimates before any run: the instructions, the
# expected and the produced extraction as JSON (about 250 tokens each), plus the rubric itself and
# the entry's reference documents it quotes (`estimated_usage` counts both); out: the reasoning and the value, plus the
# thinking tokens Gemini 2.5 models bill as output.
ESTIMATED_JUDGE_INPUT_TOKENS = 900
ESTIMATED_JUDGE_OUTPUT_TOKENS = 600
_SYSTEM_INSTRUCTION = (
    "You are an impartial judge of election result form extractions. Apply the rubric you are given "
    "to the model output, using the expected output and reference documents as the truth. Answer "
    "only with the JSON requested: first your reasoning, then the value."
)
_SEEING_SYSTEM_INSTRUCTION = (
    "You are an impartial judge of election result form extractions. You are given a photograph or "
    "scan of the form: it is the truth, with the expected output and reference documents when given. "
    "Apply the rubric you are given to the model output, reading the figures on the paper yourself. "
    "Answer only with the JSON requested: first your reasoning, then the value."
)
NO_IMAGE_REASON = "the judge sees the form's image, and this evaluation has none"


def is_judge_label(label: str) -> bool:
    """Whether a metric label is a judge's (`llm_judge`, or `llm_judge_<label>`)."""
    return label == LlmJudge.name or label.startswith(f"{LlmJudge.name}_")


class JudgeAnswerInvalid(ValueError):
    """The judge's answer is not the JSON asked for, or its value is out of range: a recorded
    evaluator failure. `evaluation_details` keep the tokens paid for and the raw answer."""

    def __init__(self, message: str, *, evaluation_details: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.evaluation_details = dict(evaluation_details)


@register
@dataclass(frozen=True)
class LlmJudge(Evaluator):
    """A rubric judged by a Gemini model: value, reasoning and pass/fail (see the module doc)."""

    name = "llm_judge"
    version = "1.0"
    metric_type = "score"  # the default `output`; `result_metric_type` follows `output`
    runs_in_thread = True  # a network call: the experiment runner calls it off the event loop
    temperature: ClassVar[float] = 0.0

    rubric: str = ""
    output: str = "score"
    classes: Sequence[str] = ()
    pass_threshold: int = 4
    pass_classes: Sequence[str] = ()
    label: str = ""
    model: str = ""
    sees_image: bool = False
    examples: Sequence[Mapping[str, Any]] = ()
    judge: str = ""
    # Handed in by whoever builds it (`create_evaluator(..., settings=)`): its Gemini configuration.
    settings: Settings | None = wired()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.rubric, str) or not self.rubric.strip():
            raise ValueError("rubric is required: the criteria the judge applies, as text")
        if len(self.rubric) > MAX_RUBRIC_CHARS:
            raise ValueError(f"rubric must be at most {MAX_RUBRIC_CHARS} characters (got {len(self.rubric)})")
        if self.output not in JUDGE_OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(JUDGE_OUTPUTS)} (got {self.output!r})")
        if not isinstance(self.label, str) or not (self.label == "" or _LABEL.match(self.label)):
            raise ValueError("label must be 1-40 lower-case letters, digits or underscores, starting with a letter")
        if not isinstance(self.model, str) or not (self.model == "" or _MODEL.match(self.model)):
            raise ValueError(f"the judge model must be a Gemini model id such as gemini-2.5-flash (got {self.model!r})")
        if not isinstance(self.sees_image, bool):
            raise ValueError("sees_image must be true or false")
        if isinstance(self.pass_threshold, bool) or not isinstance(self.pass_threshold, int):
            raise ValueError("pass_threshold must be an integer from 1 to 5")
        if not 1 <= self.pass_threshold <= 5:
            raise ValueError(f"pass_threshold must be an integer from 1 to 5 (got {self.pass_threshold})")
        object.__setattr__(self, "examples", _examples(self.examples))
        if not isinstance(self.judge, str) or len(self.judge) > 120:
            raise ValueError("judge must be the stored judge version it came from, name@n")
        classes = _strings("classes", self.classes)
        pass_classes = _strings("pass_classes", self.pass_classes)
        if self.output == "categorical":
            if not 2 <= len(classes) <= MAX_CLASSES or len(set(classes)) != len(classes):
                raise ValueError(f"a categorical judge needs 2 to {MAX_CLASSES} distinct classes")
            if any(not c.strip() or len(c) > MAX_CLASS_CHARS for c in classes):
                raise ValueError(f"each class must be 1 to {MAX_CLASS_CHARS} characters")
            if not pass_classes or not set(pass_classes) <= set(classes):
                raise ValueError("pass_classes must name one or more of the classes (the ones that pass)")
        elif classes or pass_classes:
            raise ValueError("classes and pass_classes go with output categorical only")
        # Params arrive as JSON lists; a frozen evaluator keeps tuples.
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "pass_classes", pass_classes)

    @property
    def evaluation_label(self) -> str:
        return f"{self.name}_{self.label}" if self.label else self.name

    @property
    def result_metric_type(self) -> MetricType:
        return "score" if self.output == "score" else "categorical" if self.output == "categorical" else "boolean"

    def judge_model(self, settings: Settings) -> str:
        return self.model or settings.llm_judge_model

    def estimated_usage(self, settings: Settings, *, reference_docs_chars: int = 0) -> tuple[str, int, int] | None:
        quoted = min(reference_docs_chars, _MAX_DOCS_CHARS)  # what `prompt` quotes of the entry's documents
        image = ESTIMATED_IMAGE_TOKENS * (1 + len(self.examples)) if self.sees_image else 0
        examples = sum(len(json.dumps(example.get("output"))) + 40 for example in self.examples) // 4
        return (
            self.judge_model(settings),
            ESTIMATED_JUDGE_INPUT_TOKENS
            + estimated_tokens(len(self.rubric))
            + estimated_tokens(quoted)
            + examples
            + image,
            ESTIMATED_JUDGE_OUTPUT_TOKENS,
        )

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        settings = settings_given(self, self.settings)
        if not settings.gemini_configured:
            return skipped(NO_KEY_REASON)
        if ctx.output is None:
            return skipped(NO_OUTPUT_REASON)
        image = judged_image(ctx.input) if self.sees_image else None
        if self.sees_image and image is None:
            return skipped(NO_IMAGE_REASON)
        from google.genai import types  # heavy: not on the import path

        from shared.llm.gemini import genai_client

        model = self.judge_model(settings)
        client = genai_client(settings)
        config = types.GenerateContentConfig(
            system_instruction=_SEEING_SYSTEM_INSTRUCTION if self.sees_image else _SYSTEM_INSTRUCTION,
            temperature=self.temperature,
            response_mime_type="application/json",
            response_schema=self._answer_schema(types),
        )
        tags = {"evaluator": self.evaluation_label, "judged_span_id": ctx.span.span_id if ctx.span else ""}

        def call() -> tuple[Any, Any]:
            with llmobs.capture_llm_span() as captured, llmobs.annotation_context(tags=tags):
                response = client.models.generate_content(
                    model=model, contents=self.contents(ctx, image), config=config
                )
            return response, captured.ref

        response, span = llmobs.call_in_trace_of(ctx.span, call)
        details: dict[str, Any] = {"judge_model": model, **judge_usage(model, response.usage_metadata)}
        if image is not None:
            size = image_size(image[0])
            details["image_tokens"] = image_tokens(*size) if size else None
        if span is not None:
            details |= {"judge_span_id": span.span_id, "judge_trace_id": span.trace_id}
        value, reasoning = self.read_answer(response.text, details)
        return EvaluatorResult(
            value,
            reasoning=reasoning,
            assessment=self.assessment(value),
            tags={"judge_model": model, **({"judge": self.judge} if self.judge else {})},
            details=details,
        )

    def contents(self, ctx: EvaluatorContext, image: tuple[bytes, str] | None) -> Any:
        """The user turn: the form's image first when the judge sees it (as Google recommends for a
        single image), then the prompt."""
        example_images = [
            (number, judged_image(example))
            for number, example in enumerate(self.examples, 1)
            if self.sees_image and judged_image(example) is not None
        ]
        if image is None and not example_images:
            return self.prompt(ctx)
        from google.genai import types

        parts = []
        for number, example_image in example_images:
            assert example_image is not None
            parts += [
                types.Part.from_text(text=f"Example {number}'s form:"),
                types.Part.from_bytes(data=example_image[0], mime_type=example_image[1]),
            ]
        if image is not None:
            parts += [
                types.Part.from_text(text="The form to judge:"),
                types.Part.from_bytes(data=image[0], mime_type=image[1]),
            ]
        return types.Content(role="user", parts=[*parts, types.Part.from_text(text=self.prompt(ctx))])

    def prompt(self, ctx: EvaluatorContext) -> str:
        """What the judge is asked: the rubric, the answer's form, the truth, the output (both in
        the paper's shape: its statistics with their printed labels)."""
        form_type = judged_form_type(ctx)
        lines = [
            "Rubric:",
            self.rubric.strip(),
            "",
            f'Answer with JSON: "reasoning" (at most three sentences naming what you checked), then "value": '
            f"{self._value_instruction()}.",
            *self._example_lines(form_type),
            "",
            f"The paper: {form_type.title}.",
            "Expected output (the form's verified figures):",
            labelled_json(ctx.expected, form_type) if ctx.expected is not None else self._no_expected(),
        ]
        docs = "\n\n".join(reference_docs(ctx))
        if docs:
            lines += ["", "Reference documents:", docs[:_MAX_DOCS_CHARS]]
        assert ctx.output is not None
        lines += ["", "Model output:", labelled_json(ctx.output, form_type)]
        return "\n".join(lines)

    def read_answer(self, text: str | None, details: Mapping[str, Any]) -> tuple[Any, str]:
        """The judge's (value, reasoning); JudgeAnswerInvalid when it is not what was asked."""

        def invalid(why: str) -> JudgeAnswerInvalid:
            return JudgeAnswerInvalid(
                f"the judge's answer {why}", evaluation_details={**details, "answer": (text or "")[:500]}
            )

        if not text:
            raise invalid("is empty")
        try:
            answer = json.loads(text)
        except ValueError:
            raise invalid("is not JSON") from None
        if not isinstance(answer, dict) or "value" not in answer:
            raise invalid('has no "value"')
        reasoning = answer.get("reasoning")
        if not isinstance(reasoning, str) or not reasoning.strip():
            raise invalid('has no "reasoning" text')
        value = answer["value"]
        if self.output == "score":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise invalid(f"value {value!r} is not an integer from 1 to 5")
        elif self.output == "categorical":
            if value not in self.classes:
                raise invalid(f"value {value!r} is not one of the classes {list(self.classes)}")
        elif not isinstance(value, bool):
            raise invalid(f"value {value!r} is not true or false")
        return value, reasoning.strip()[:MAX_REASONING_CHARS]

    def assessment(self, value: Any) -> Assessment:
        if self.output == "score":
            passed = value >= self.pass_threshold
        elif self.output == "categorical":
            passed = value in self.pass_classes
        else:
            passed = value is True
        return "pass" if passed else "fail"

    def _example_lines(self, form_type: Any) -> list[str]:
        """Reviewers' verdicts on other extractions, as few-shot examples (pass: the extraction was
        right; fail: reviewers corrected or rejected it)."""
        if not self.examples:
            return []
        lines = ["", "Examples of reviewers' verdicts on other extractions (judge as they did):"]
        for number, example in enumerate(self.examples, 1):
            verdict = (
                "pass (reviewers found it right)" if example["verdict"] == "pass" else "fail (reviewers found it wrong)"
            )
            lines += [f"Example {number}: verdict {verdict}.", "Its model output:", _quoted_output(example, form_type)]
            if example.get("note"):
                lines.append(f"Reviewer's note: {example['note']}")
        return lines

    def _no_expected(self) -> str:
        return "not given: judge the output against the form's image" if self.sees_image else "not given"

    def _value_instruction(self) -> str:
        if self.output == "score":
            return "an integer from 1 (fails the rubric entirely) to 5 (meets it fully)"
        if self.output == "categorical":
            return "exactly one of " + json.dumps(list(self.classes), ensure_ascii=False)
        return "true when the output meets the rubric, false when it does not"

    def _answer_schema(self, types: Any) -> Any:
        if self.output == "score":
            value = types.Schema(type="INTEGER", minimum=1, maximum=5)
        elif self.output == "categorical":
            value = types.Schema(type="STRING", enum=list(self.classes))
        else:
            value = types.Schema(type="BOOLEAN")
        return types.Schema(
            type="OBJECT",
            properties={"reasoning": types.Schema(type="STRING"), "value": value},
            required=["reasoning", "value"],
            property_ordering=["reasoning", "value"],
        )


MAX_EXAMPLES = 20
_EXAMPLE_KEYS = {"extraction_id", "verdict", "note", "output", "image", "image_content_type"}


def _examples(given: Any) -> tuple[Mapping[str, Any], ...]:
    """Few-shot examples checked: each `{extraction_id, verdict: pass|fail, note?, output}`."""
    if isinstance(given, str | Mapping) or not isinstance(given, Sequence) or len(given) > MAX_EXAMPLES:
        raise ValueError(f"examples must be a list of at most {MAX_EXAMPLES} reviewers' verdicts")
    for example in given:
        if not isinstance(example, Mapping) or set(example) - _EXAMPLE_KEYS:
            raise ValueError("each example is {extraction_id, verdict, note?, output}")
        if example.get("verdict") not in ("pass", "fail") or not isinstance(example.get("output"), Mapping):
            raise ValueError("each example needs a verdict (pass or fail) and the model output it was given on")
        if not isinstance(example.get("note") or "", str):
            raise ValueError("an example's note must be text")
    return tuple(dict(example) for example in given)


def _quoted_output(example: Mapping[str, Any], form_type: Any) -> str:
    try:
        return labelled_json(VoteExtraction.model_validate(example["output"]), form_type)
    except ValueError:
        return json.dumps(example["output"], ensure_ascii=False)


def _strings(name: str, given: Any) -> tuple[str, ...]:
    if isinstance(given, str) or not isinstance(given, Sequence) or not all(isinstance(s, str) for s in given):
        raise ValueError(f"{name} must be a list of strings")
    return tuple(given)


def judge_usage(model: str, usage: Any) -> dict[str, Any]:
    """A judge call's `usage` (thinking tokens count as output: they are billed so) and `cost_usd`
    (None for a model missing from the price table)."""
    input_tokens = int(getattr(usage, "prompt_token_count", None) or 0)
    output_tokens = int(getattr(usage, "candidates_token_count", None) or 0) + int(
        getattr(usage, "thoughts_token_count", None) or 0
    )
    total = int(getattr(usage, "total_token_count", None) or input_tokens + output_tokens)
    cost = estimated_cost_usd(model, input_tokens, output_tokens)
    return {
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total},
        "cost_usd": round(cost, 8) if cost is not None else None,
    }


def evaluations_cost_usd(evaluations: Sequence[Any]) -> float:
    """What a run's evaluations spent on models (`details["cost_usd"]`, set by judges), in US$."""
    total = 0.0
    for evaluation in evaluations:
        details = evaluation.get("details") if isinstance(evaluation, Mapping) else getattr(evaluation, "details", None)
        cost = (details or {}).get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            total += float(cost)
    return total
