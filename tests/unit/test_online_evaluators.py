"""The online evaluators and the registry's contract (a raising evaluator is a recorded failure)."""

from __future__ import annotations

from typing import ClassVar

import pytest

from shared.errors import InvalidField
from shared.evaluation import EvaluatorContext, create_evaluator, evaluator_names, run_evaluators
from shared.evaluation.matching import compare_extractions
from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult


def extraction(*votes: int | None, rejected: int | None = 4, valid: int | None = None) -> VoteExtraction:
    names = ["Amina Okafor", "John Smith", "Li Wei", "Maria Garcia"]
    counted = [v for v in votes if v is not None]
    valid = sum(counted) if valid is None else valid
    return VoteExtraction(
        form=FormInfo(constituency_name="Riverside", constituency_code="042"),
        vote_results=[
            VoteResult(candidate_name=n, party="P", vote_count=v) for n, v in zip(names, votes, strict=False)
        ],
        ballot_stats=BallotStats(
            valid_votes=valid,
            rejected_ballots=rejected,
            total_ballots=None if rejected is None or valid is None else valid + rejected,
        ),
    )


def evaluate(label: str, ctx: EvaluatorContext):
    results = run_evaluators([create_evaluator(label)], ctx)
    return results[0] if results else None


def test_extraction_quality_is_ten_for_a_perfect_read_and_drops_per_wrong_field():
    truth = extraction(120, 80, 15)
    misread = truth.model_copy(deep=True)
    misread.vote_results[1].vote_count = 30

    perfect = evaluate("extraction_quality", EvaluatorContext(output=truth, expected=truth))
    wrong = evaluate("extraction_quality", EvaluatorContext(output=misread, expected=truth))

    assert perfect.value == 10.0 and perfect.assessment == "pass"
    fields = compare_extractions(truth, truth).total
    assert wrong.value == pytest.approx(round(10 * (fields - 1) / fields, 2))
    assert wrong.assessment == "fail"
    assert "vote_results[John Smith].vote_count" in wrong.reasoning


def test_extraction_quality_matches_names_ignoring_case_spacing_and_counts_extra_candidates():
    truth = extraction(120, 80, 15)
    shouted = truth.model_copy(deep=True)
    shouted.vote_results[0].candidate_name = "  AMINA   okafor "
    padded = truth.model_copy(deep=True)
    padded.vote_results.append(VoteResult(candidate_name="Nobody Real", vote_count=1))

    assert evaluate("extraction_quality", EvaluatorContext(output=shouted, expected=truth)).value == 10.0
    assert evaluate("extraction_quality", EvaluatorContext(output=padded, expected=truth)).value < 10.0


def test_extraction_quality_does_not_apply_without_expected():
    assert evaluate("extraction_quality", EvaluatorContext(output=extraction(1, 2, 3))) is None


@pytest.mark.parametrize(
    ("output", "expected_class"),
    [
        (None, "failed"),
        (VoteExtraction(), "failed"),
        (extraction(120, None, 15), "incomplete"),
        (extraction(120, 80, 15, valid=999), "good"),
        (extraction(120, 80, 15), "excellent"),
        (extraction(120, 80, 15), "excellent"),
    ],
)
def test_output_classification(output, expected_class):
    assert evaluate("output_classification", EvaluatorContext(output=output)).value == expected_class


def test_three_candidate_form_can_be_excellent():
    # The guide's "< 5 rows is incomplete" rule would misjudge small constituencies.
    assert evaluate("output_classification", EvaluatorContext(output=extraction(5, 6, 7))).value == "excellent"


def test_consistency_checks_both_sums():
    good = evaluate("consistency", EvaluatorContext(output=extraction(10, 20, 30)))
    bad_sum = evaluate("consistency", EvaluatorContext(output=extraction(10, 20, 30, valid=61)))
    bad_total = extraction(10, 20, 30)
    bad_total.ballot_stats.total_ballots = 1
    broken = evaluate("consistency", EvaluatorContext(output=bad_total))

    assert (good.value, good.assessment) == (True, "pass")
    assert bad_sum.value is False and "valid_votes (61) == sum(votes) (60): fails" in bad_sum.reasoning
    assert broken.value is False and "total_is_valid_plus_rejected fails" in broken.reasoning
    assert "total_ballots (1)" in broken.reasoning
    assert [c["status"] for c in broken.details["checks"]] == ["pass", "fail"]


def test_schema_valid_judges_the_raw_answer_when_parsing_failed():
    valid = evaluate("schema_valid", EvaluatorContext(output=extraction(1, 2, 3)))
    invalid = evaluate("schema_valid", EvaluatorContext(output=None, raw_output='{"vote_results": "nope"'))
    unreachable = evaluate("schema_valid", EvaluatorContext(output=None, raw_output=None))

    assert valid.value is True
    assert invalid.value is False and invalid.assessment == "fail"
    assert unreachable is None


def test_a_raising_evaluator_is_a_recorded_failure_and_the_others_still_run():
    class Exploding:
        name: ClassVar[str] = "exploding"
        version: ClassVar[str] = "0"
        metric_type: ClassVar[str] = "score"

        def evaluate(self, ctx):
            raise ZeroDivisionError("boom")

    results = run_evaluators([Exploding(), create_evaluator("consistency")], EvaluatorContext(output=extraction(1, 2)))

    assert results[0].label == "exploding" and results[0].value is None
    assert results[0].error == "ZeroDivisionError: boom"
    assert results[1].label == "consistency" and results[1].error is None


def test_registry_refuses_unknown_names_and_bad_params():
    assert {"extraction_quality", "output_classification", "consistency", "schema_valid"} <= set(evaluator_names())
    with pytest.raises(InvalidField):
        create_evaluator("no_such_evaluator")
    with pytest.raises(InvalidField):
        create_evaluator("extraction_quality", {"pass_threshold": 11})
    with pytest.raises(InvalidField):
        create_evaluator("consistency", {"surprise": 1})


def test_strict_name_matching_costs_the_vote_count_of_a_misspelt_candidate():
    truth = extraction(120, 80, 15)
    misspelt = truth.model_copy(deep=True)
    misspelt.vote_results[0].candidate_name = "Amina Okafar"

    lenient = compare_extractions(misspelt, truth).vote_counts()
    strict = compare_extractions(misspelt, truth, fuzzy_names=False).vote_counts()

    assert lenient == (6, 6)
    # strictly, the misspelt row is both a missing row (its count wrong) and an extra row
    assert strict == (5, 7)


def test_golden_candidate_is_approved_only_above_95_percent_accuracy():
    truth = extraction(120, 80, 15)
    one_wrong = truth.model_copy(deep=True)
    one_wrong.vote_results[0].vote_count = 1

    approved = evaluate("golden_dataset_candidate", EvaluatorContext(output=truth, expected=truth))
    refused = evaluate("golden_dataset_candidate", EvaluatorContext(output=one_wrong, expected=truth))
    unknown = evaluate("golden_dataset_candidate", EvaluatorContext(output=truth))

    assert approved.value == "approved"
    assert approved.tags["manual_review"] == "recommended" and approved.tags["dataset_category"] == "high_quality"
    assert float(approved.tags["accuracy"]) == 1.0
    assert refused is None and unknown is None
