"""The evaluators that run on every extraction (online), registered by name.

- `extraction_quality`: score 0-10, the share of `expected`'s fields read right (guide 1.1).
- `output_classification`: failed | incomplete | good | excellent (the guide's classifier).
- `consistency`: the form type's arithmetic holds (generic: candidate votes sum to valid votes,
  and valid + rejected = total); each failing rule is named with its numbers.
- `figures_match_words`: on a type that writes counts in words too, the words state the figures.
- `schema_valid`: the model's answer is a VoteExtraction.
- `golden_dataset_candidate`: `approved` when the output matches `expected` with accuracy above
  0.95 (guide 1.3); feedback can approve a candidate later too.
- `cross_check` (in `cross_check.py`): agreement with an independent second reading of the
  image, made by the extract service before it answers (CROSS_CHECK in `shared/config.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from shared.evaluation.base import Evaluator, EvaluatorContext, EvaluatorResult, bounded
from shared.evaluation.matching import compare_extractions, row_problems
from shared.evaluation.registry import register
from shared.form_types.checks import check_rules, compare_figures_and_words, failed_errors, statistics_of
from shared.form_types.model import GENERIC, FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE, form_type_for_evaluation
from shared.models import VoteExtraction

ONLINE_EVALUATORS = (
    "extraction_quality",
    "output_classification",
    "consistency",
    "figures_match_words",
    "schema_valid",
    "golden_dataset_candidate",
    "cross_check",
)
GOLDEN_ACCURACY = 0.95


@register
@dataclass(frozen=True)
class ExtractionQuality(Evaluator):
    """0-10 against `expected`; passes at 9.5 and above (the golden-candidate bar is accuracy > 0.95).

    The whole result is compared: an extra row (a candidate the expected output does not have)
    counts as one more wrong field, a missing row's fields are wrong, and the reasoning names
    them ("1 extra row: ...")."""

    name = "extraction_quality"
    version = "2.0"
    metric_type = "score"

    pass_threshold: float = bounded(9.5, 0, 10)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        comparison = compare_extractions(ctx.output, ctx.expected)
        score = round(10 * comparison.accuracy, 2)
        wrong = [path for path, ok in comparison.fields.items() if not ok]
        reasoning = f"{comparison.correct} of {comparison.total} expected fields right"
        problems = row_problems(comparison)
        if wrong:
            problems.append("wrong: " + ", ".join(wrong[:10]) + (" ..." if len(wrong) > 10 else ""))
        if problems:
            reasoning += "; " + "; ".join(problems)
        return EvaluatorResult(
            value=score,
            reasoning=reasoning,
            assessment="pass" if score >= self.pass_threshold else "fail",
            tags={"accuracy": f"{comparison.accuracy:.4f}"},
        )


@register
@dataclass(frozen=True)
class GoldenDatasetCandidate(Evaluator):
    """Marks an extraction worth a place in a golden dataset (a person still reviews it)."""

    name = "golden_dataset_candidate"
    version = "1.0"
    metric_type = "categorical"

    min_accuracy: float = bounded(GOLDEN_ACCURACY, 0, 1)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None or ctx.output is None:
            return None
        accuracy = compare_extractions(ctx.output, ctx.expected).accuracy
        if accuracy <= self.min_accuracy:
            return None
        return EvaluatorResult(
            "approved",
            reasoning=f"accuracy {accuracy:.3f} against the expected output is above {self.min_accuracy}",
            assessment="pass",
            tags=golden_candidate_tags(accuracy, ctx.output),
        )


def golden_candidate_tags(accuracy: float, output: VoteExtraction) -> dict[str, str]:
    """The guide's 1.3 tags for a `golden_dataset_candidate` evaluation."""
    return {
        "accuracy": f"{accuracy:.4f}",
        "manual_review": "recommended",
        "dataset_category": "high_quality",
        "form_type": output.form.form_type or "unknown",
    }


@register
@dataclass(frozen=True)
class OutputClassification(Evaluator):
    """The guide's classes, judged on what a form needs rather than the guide's "< 5 rows" rule
    (a constituency may have 3 candidates): failed (no rows), incomplete (a count is missing),
    good (all counts read but they do not add up), excellent (all read and consistent). On a
    typed paper a row without a count is a blank row (most EC8A rows are), not a missing count,
    unless every row is blank; its statistics must all be read."""

    name = "output_classification"
    version = "2.2"
    metric_type = "categorical"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        output = ctx.output
        if output is None or not output.vote_results:
            return EvaluatorResult("failed", reasoning=ctx.error or "no vote results", assessment="fail")
        form_type = form_type_for_evaluation(ctx.metadata, ctx.expected, output)
        missing = [r.candidate_name for r in output.vote_results if r.vote_count is None]
        if form_type.name != GENERIC and len(missing) < len(output.vote_results):
            missing = []  # a typed paper's rows are often left blank (EC8A): blank is not unread
        missing += [key for key, value in statistics_of(output, form_type).items() if value is None]
        if missing:
            return EvaluatorResult("incomplete", reasoning="missing: " + ", ".join(missing), assessment="fail")
        problems = consistency_problems(output, form_type)
        if problems:
            return EvaluatorResult("good", reasoning="; ".join(problems), assessment="pass")
        return EvaluatorResult("excellent", reasoning="every count read and consistent", assessment="pass")


@register
@dataclass(frozen=True)
class Consistency(Evaluator):
    """The form type's arithmetic on the reading: fails when an error rule fails, or when a rule
    cannot be checked for a missing number (a reading that cannot be checked is not consistent);
    a failing warning rule is named but does not fail it. `details["checks"]` holds every rule's
    verdict; `details["form_type"]` the type judged against."""

    name = "consistency"
    version = "2.0"
    metric_type = "boolean"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.output is None:
            return None
        form_type = form_type_for_evaluation(ctx.metadata, ctx.expected, ctx.output)
        checks = check_rules(form_type, ctx.output)
        details = {"form_type": form_type.ref, "checks": [c.as_dict() for c in checks]}
        problems = _rule_problems(checks)
        warnings = [f"warning {c.rule}: {c.detail}" for c in checks if c.status == "fail" and c.severity == "warning"]
        if problems:
            return EvaluatorResult(False, reasoning="; ".join(problems + warnings), assessment="fail", details=details)
        held = ", ".join(c.rule for c in checks if c.status == "pass") or "no rule"
        reasoning = f"{form_type.ref}: {held} hold" + ("; " + "; ".join(warnings) if warnings else "")
        return EvaluatorResult(True, reasoning=reasoning, assessment="pass", details=details)


@register
@dataclass(frozen=True)
class FiguresMatchWords(Evaluator):
    """On a form type that writes each count in words too (`figures_in_words`), the words state
    the figures, row by row, read in the type's language ("TWO HUNDRED AND THREE", "doscientos
    tres", "NIL"); fails naming the rows that differ. Rows without words, or whose words state no
    number, are not compared (listed in details); no comparable row: not applicable."""

    name = "figures_match_words"
    version = "1.0"
    metric_type = "boolean"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.output is None:
            return None
        form_type = form_type_for_evaluation(ctx.metadata, ctx.expected, ctx.output)
        if not form_type.figures_in_words:
            return None
        comparison = compare_figures_and_words(form_type, ctx.output)
        details = {"differing": list(comparison.differing), "unreadable": list(comparison.unreadable)}
        if comparison.differing:
            return EvaluatorResult(
                False,
                reasoning=f"{len(comparison.differing)} of {comparison.compared} rows' words differ from the figures: "
                + "; ".join(comparison.differing),
                assessment="fail",
                details=details,
            )
        if not comparison.compared:
            return None
        return EvaluatorResult(
            True,
            reasoning=f"the words state the figures on all {comparison.compared} rows",
            assessment="pass",
            details=details,
        )


@register
@dataclass(frozen=True)
class SchemaValid(Evaluator):
    """The model's answer is a VoteExtraction (judged on the raw text when parsing failed)."""

    name = "schema_valid"
    version = "1.0"
    metric_type = "boolean"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.output is not None:
            return EvaluatorResult(True, reasoning="the answer is a VoteExtraction", assessment="pass")
        if ctx.raw_output is None:
            return None  # the model never answered: nothing to judge
        try:
            VoteExtraction.model_validate_json(ctx.raw_output)
        except ValidationError as error:
            return EvaluatorResult(False, reasoning=_first_line(str(error)), assessment="fail")
        return EvaluatorResult(True, assessment="pass")


def consistency_problems(output: VoteExtraction, form_type: FormType = GENERIC_FORM_TYPE) -> list[str]:
    """Sentences for each error rule of the type that fails or cannot be checked."""
    return _rule_problems(check_rules(form_type, output))


def _rule_problems(checks: list) -> list[str]:  # type: ignore[type-arg]
    problems = [f"{c.rule} fails: {c.detail}" for c in failed_errors(checks)]
    problems += [
        f"{c.rule} cannot be checked: {c.detail}" for c in checks if c.status == "not_checked" and c.severity == "error"
    ]
    return problems


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
