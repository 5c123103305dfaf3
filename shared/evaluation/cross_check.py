"""`cross_check`: an independent second reading of the same image, compared field by field.

Election tallies are checked by double entry; so is an extraction. A second reader (another
model, or the same OCR with other preprocessing; see `shared.llm.second_reader`) reads the same
image bytes, and the two readings are compared per field:

- rows are paired by candidate name, normalised as `matching` does (case, spacing, punctuation,
  one misread letter), never by position: counts read onto the wrong rows disagree;
- each paired row's vote count, and each statistic either reading has, must be equal;
  a candidate's count neither reading has is not agreement (nothing was confirmed);
- a row both readings have without a count is a disagreement on a generic form (nothing was
  confirmed) and agreement on a typed paper, whose rows are often left blank;
- a row only one reading has is a disagreement, except a row of the second reading that holds no
  count (the second reader's stray line asserts nothing to check).

Value: the agreement score (agreeing fields / compared fields, 0-1). `details["disagreements"]`
lists the disagreeing fields with both values, for a reviewer. Assessment: fail when any count
disagrees. The second reading is made by the reading pipeline (`shared.reading`) beside the
primary call, online and in an experiment alike, and handed in as `ctx.metadata["second_reading"]`;
without one (cross check switched off or not sampled) the evaluator does not apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from shared.evaluation.base import Evaluator, EvaluatorContext, EvaluatorResult
from shared.evaluation.matching import compare_extractions, match_candidates, statistic_path
from shared.evaluation.registry import register
from shared.form_types.resolve import declared_form_type, is_generic
from shared.llm.second_reader import SecondReading, check_reader_name
from shared.models import VoteExtraction

_LISTED = 8


@dataclass(frozen=True)
class Disagreement:
    """One field the two readings do not agree on (`None`: that reading has no such value/row)."""

    field: str
    primary: int | None
    second: int | None
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "primary": self.primary, "second": self.second, "why": self.why}

    def sentence(self) -> str:
        return f"{self.field}: {self.primary} vs {self.second} ({self.why})"


@dataclass(frozen=True)
class ReadingComparison:
    """The per-field outcome of comparing a primary reading with a second one."""

    compared: int
    disagreements: tuple[Disagreement, ...] = field(default_factory=tuple)

    @property
    def agreement(self) -> float:
        return 1.0 - len(self.disagreements) / self.compared if self.compared else 1.0


def compare_readings(primary: VoteExtraction, second: VoteExtraction) -> ReadingComparison:
    """Compare every vote count of two readings of one form (see the module's rules)."""
    compared = 0
    disagreements: list[Disagreement] = []
    # On a typed paper (EC8A: 18 party rows, most left blank) a row both readings find blank
    # is a blank row confirmed; on a generic form every candidate has a count to confirm.
    generic = is_generic(declared_form_type(primary))
    pairs = match_candidates(second.vote_results, primary.vote_results)
    paired_second = [got for _, got in pairs if got is not None]
    for row, other in pairs:
        path = f"vote_results[{row.candidate_name}].vote_count"
        compared += 1
        if other is None:
            disagreements.append(Disagreement(path, row.vote_count, None, "row only in the primary reading"))
        elif row.vote_count is None and other.vote_count is None:
            if generic:
                disagreements.append(Disagreement(path, None, None, "neither reading has a count"))
        elif other.vote_count != row.vote_count:
            disagreements.append(Disagreement(path, row.vote_count, other.vote_count, "counts differ"))
    for row in second.vote_results:
        if any(row is got for got in paired_second) or row.vote_count is None:
            continue
        compared += 1
        disagreements.append(
            Disagreement(
                f"vote_results[{row.candidate_name}].vote_count",
                None,
                row.vote_count,
                "row only in the second reading",
            )
        )
    mine_all, theirs_all = primary.stated_statistics(), second.stated_statistics()
    for key in mine_all | theirs_all:
        mine, theirs = mine_all.get(key), theirs_all.get(key)
        if mine is None and theirs is None:
            continue
        compared += 1
        if mine != theirs:
            disagreements.append(Disagreement(statistic_path(key, generic=generic), mine, theirs, "counts differ"))
    return ReadingComparison(compared=compared, disagreements=tuple(disagreements))


@register
@dataclass(frozen=True)
class CrossCheck(Evaluator):
    """Agreement of the output with an independent second reading of the same image; fails
    when any vote count disagrees. In an experiment `reader` names the second reader the runner
    asks the reading pipeline for ("" chooses as online: `shared.llm.second_reader`)."""

    name = "cross_check"
    version = "1.1"
    metric_type = "score"

    reader: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reader:
            check_reader_name(self.reader)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.output is None:
            return None
        reading = ctx.metadata.get("second_reading")
        if reading is None:
            return None
        result = cross_check_result(ctx.output, reading)
        if ctx.expected is not None and result.value is not None:
            # offline: whether the output was right, so a summary can tell how often agreement
            # coincides with being right (`vote_count_exact`'s rule)
            comparison = compare_extractions(ctx.output, ctx.expected)
            right = comparison.vote_counts()[0] == comparison.vote_counts()[1]
            result = replace(result, details={**result.details, "primary_right": right})
        return result


def cross_check_result(primary: VoteExtraction, reading: SecondReading) -> EvaluatorResult:
    """The evaluator's verdict for a primary output and a second reading (made or failed)."""
    base: dict[str, Any] = {
        "reader": reading.reader,
        "second_latency_ms": reading.latency_ms,
        "second_usage": reading.usage.model_dump(),
    }
    if reading.span is not None:
        base["second_span_id"] = reading.span.span_id
    if reading.extraction is None:
        return EvaluatorResult(
            None,
            reasoning=f"no second reading: {reading.error}",
            details={**base, "skipped": True, "error": reading.error},
        )
    comparison = compare_readings(primary, reading.extraction)
    details = {
        **base,
        "agreement": round(comparison.agreement, 6),
        "compared": comparison.compared,
        "disagreements": [d.as_dict() for d in comparison.disagreements],
        "second_reading": reading.extraction.model_dump(mode="json"),
    }
    tags = {"second_reader": reading.reader}
    if not comparison.disagreements:
        return EvaluatorResult(
            1.0,
            reasoning=f"{reading.reader} read the same {comparison.compared} vote counts",
            assessment="pass",
            tags=tags,
            details=details,
        )
    listed = "; ".join(d.sentence() for d in comparison.disagreements[:_LISTED])
    more = " ..." if len(comparison.disagreements) > _LISTED else ""
    return EvaluatorResult(
        round(comparison.agreement, 6),
        reasoning=(
            f"{len(comparison.disagreements)} of {comparison.compared} vote counts disagree with {reading.reader}: "
            f"{listed}{more}"
        ),
        assessment="fail",
        tags=tags,
        details=details,
    )
