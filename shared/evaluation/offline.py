"""The evaluators experiments run against a dataset's expected outputs, registered by name.

- `vote_count_exact`: boolean, every expected vote count (candidates' and the form type's
  statistics) right
  and the rows the same: exact means exact.
- `vote_count_accuracy`: score 0-1, the share of expected vote counts right, an extra row
  counting as one more wrong count; `details["fields"]` holds every compared field's outcome
  (`{path: bool}`), for per-field breakdowns.

The rule both state in their reasoning: the whole result is compared. A candidate row in the
output that is not in the expected one (a header or a stray line read as a candidate) is "1 extra
row: ..." and makes the output not exact; an expected candidate with no row is "1 missing row:
...". Rows are paired by candidate name (normalised; one misread letter tolerated), never by
position, so counts read on the wrong rows are wrong counts.
- `candidate_f1`: score 0-1, F1 over candidates matched by name (precision and recall in details).
- `count_error`: score, mean absolute error over expected vote counts (lower is better).
- `completeness`: failed | incomplete | good | excellent, the online `output_classification`.

Each returns None when the entry has no expected output (nothing to compare with), except
`completeness`, which judges the output alone. `output` is None when the model failed: every
expected field then counts as wrong. They are pure and cheap: experiments run them thousands of
times.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.evaluation.base import Evaluator, EvaluatorContext, EvaluatorResult, bounded
from shared.evaluation.matching import (
    FieldComparison,
    compare_extractions,
    is_statistic_path,
    match_candidates,
    row_problems,
    statistic_paths,
)
from shared.evaluation.online import OutputClassification
from shared.evaluation.registry import register
from shared.models import VoteExtraction

OFFLINE_EVALUATORS = ("vote_count_exact", "vote_count_accuracy", "candidate_f1", "count_error", "completeness")
_LISTED_PATHS = 10


def is_vote_count_path(path: str) -> bool:
    """True for the field paths that hold a vote count (a candidate's votes or a ballot statistic)."""
    return path.endswith(".vote_count") or is_statistic_path(path)


def vote_count_fields(comparison: FieldComparison) -> dict[str, bool]:
    """The vote-count subset of a comparison's `fields`."""
    return {path: ok for path, ok in comparison.fields.items() if is_vote_count_path(path)}


def _listed(paths: list[str]) -> str:
    more = " ..." if len(paths) > _LISTED_PATHS else ""
    return ", ".join(paths[:_LISTED_PATHS]) + more


@register
@dataclass(frozen=True)
class VoteCountExact(Evaluator):
    """Passes only when every vote count `expected` states was read exactly and the output has
    exactly the expected rows: an extra row (a candidate the expected output does not have) or a
    missing one makes it not exact, and the reasoning says so ("1 extra row: ...")."""

    name = "vote_count_exact"
    version = "2.0"
    metric_type = "boolean"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        comparison = compare_extractions(ctx.output, ctx.expected)
        counts = vote_count_fields(comparison)
        if not counts and not comparison.extra_rows:
            return None
        wrong = [path for path, ok in counts.items() if not ok]
        problems = row_problems(comparison)
        if wrong:
            problems.append(f"{len(wrong)} of {len(counts)} vote counts wrong: {_listed(wrong)}")
        if problems:
            return EvaluatorResult(False, reasoning="not exact: " + "; ".join(problems), assessment="fail")
        return EvaluatorResult(
            True, reasoning=f"all {len(counts)} vote counts exact, no extra or missing row", assessment="pass"
        )


@register
@dataclass(frozen=True)
class VoteCountAccuracy(Evaluator):
    """The share of vote counts read exactly, over the expected counts plus one per extra row
    (a row the expected output does not have is a count the form does not hold: an error);
    passes at `pass_threshold` (default 1.0)."""

    name = "vote_count_accuracy"
    version = "2.0"
    metric_type = "score"

    pass_threshold: float = bounded(1.0, 0, 1)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        comparison = compare_extractions(ctx.output, ctx.expected)
        counts = vote_count_fields(comparison)
        correct, total = comparison.vote_counts()
        if not total:
            return None
        accuracy = correct / total
        wrong = [path for path, ok in counts.items() if not ok]
        reasoning = f"{correct} of {total} vote counts right"
        if comparison.extra_rows:
            reasoning += f" ({len(counts)} expected + {len(comparison.extra_rows)} extra)"
        problems = row_problems(comparison)
        if wrong:
            problems.append("wrong: " + _listed(wrong))
        if problems:
            reasoning += "; " + "; ".join(problems)
        return EvaluatorResult(
            round(accuracy, 6),
            reasoning=reasoning,
            assessment="pass" if accuracy >= self.pass_threshold else "fail",
            details={
                "fields": dict(comparison.fields),
                "spurious_candidates": comparison.spurious_candidates,
                "extra_rows": list(comparison.extra_rows),
                "missing_rows": list(comparison.missing_rows),
            },
        )


@register
@dataclass(frozen=True)
class CandidateF1(Evaluator):
    """F1 of the predicted candidate list against the expected one, candidates matched by name
    (tolerant of case, spacing, punctuation and one misread letter, as `matching` matches)."""

    name = "candidate_f1"
    version = "1.0"
    metric_type = "score"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        predicted = ctx.output.vote_results if ctx.output is not None else []
        expected = ctx.expected.vote_results
        matched = sum(1 for _, got in match_candidates(predicted, expected) if got is not None)
        precision, recall, f1 = precision_recall_f1(matched, predicted=len(predicted), expected=len(expected))
        return EvaluatorResult(
            round(f1, 6),
            reasoning=(
                f"{matched} of {len(expected)} expected candidates found, {len(predicted) - matched} of "
                f"{len(predicted)} predicted not on the form; precision {precision:.3f}, recall {recall:.3f}"
            ),
            assessment="pass" if f1 == 1.0 else "fail",
            details={"precision": precision, "recall": recall, "matched": matched},
        )


def precision_recall_f1(matched: int, *, predicted: int, expected: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; two empty lists agree perfectly (1, 1, 1).

    Args:
        matched: true positives (predicted items paired with an expected one).
        predicted: how many items were predicted.
        expected: how many items were expected.
    """
    if predicted == 0 and expected == 0:
        return 1.0, 1.0, 1.0
    precision = matched / predicted if predicted else 0.0
    recall = matched / expected if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@register
@dataclass(frozen=True)
class CountError(Evaluator):
    """Mean absolute error over the expected vote counts (lower is better); a count that was not
    read at all costs its whole expected value. Passes only at 0."""

    name = "count_error"
    version = "1.0"
    metric_type = "score"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        errors = absolute_count_errors(ctx.output, ctx.expected)
        if not errors:
            return None
        total_error = sum(errors.values())
        expected_sum = _expected_count_sum(ctx.expected)
        mean_error = total_error / len(errors)
        relative = total_error / expected_sum if expected_sum else (0.0 if total_error == 0 else None)
        off = [f"{path} off by {error}" for path, error in errors.items() if error]
        reasoning = f"mean absolute error {mean_error:.3f} over {len(errors)} vote counts"
        if off:
            reasoning += "; " + _listed(off)
        return EvaluatorResult(
            round(mean_error, 6),
            reasoning=reasoning,
            assessment="pass" if total_error == 0 else "fail",
            details={
                "relative_error": relative,
                "total_absolute_error": total_error,
                "max_absolute_error": max(errors.values()),
                "n": len(errors),
            },
        )


def absolute_count_errors(predicted: VoteExtraction | None, expected: VoteExtraction) -> dict[str, int]:
    """`{path: |predicted - expected|}` for every vote count `expected` states.

    A count missing from the prediction (no output, candidate not found, or a null count) costs
    the whole expected value.
    """
    predicted = predicted or VoteExtraction()
    errors: dict[str, int] = {}
    for want, got in match_candidates(predicted.vote_results, expected.vote_results):
        if want.vote_count is None:
            continue
        read = got.vote_count if got is not None else None
        error = abs(read - want.vote_count) if read is not None else abs(want.vote_count)
        errors[f"vote_results[{want.candidate_name}].vote_count"] = error
    wanted, stated = expected.stated_statistics(), predicted.stated_statistics()
    for key, path in statistic_paths(expected).items():
        read = stated.get(key)
        errors[path] = abs(read - wanted[key]) if read is not None else abs(wanted[key])  # type: ignore[operator]
    return errors


def _expected_count_sum(expected: VoteExtraction) -> int:
    counts = [r.vote_count for r in expected.vote_results]
    counts += list(expected.stated_statistics().values())
    return sum(abs(c) for c in counts if c is not None)


@register
@dataclass(frozen=True)
class Completeness(Evaluator):
    """The guide's completeness classes (failed, incomplete, good, excellent) for experiments:
    exactly `output_classification`'s judgement under the experiment-facing name."""

    name = "completeness"
    version = f"1.0+{OutputClassification.version}"
    metric_type = "categorical"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        return OutputClassification().evaluate(ctx)
