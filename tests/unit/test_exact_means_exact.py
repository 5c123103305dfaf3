"""Exact means exact (issue 15): the whole result is compared, rows included.

Each case runs through `vote_count_exact`, `vote_count_accuracy` (offline) and
`extraction_quality` (online): an output with an extra row, a missing row, two candidates' counts
swapped, or a thousands separator read as a digit is not exact, and the reasoning names the rule.
"""

from __future__ import annotations

import pytest

from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.models import BallotStats, Evaluation, FormInfo, VoteExtraction, VoteResult


def truth() -> VoteExtraction:
    return VoteExtraction(
        form=FormInfo(constituency_name="Riverside", constituency_code="042"),
        vote_results=[
            VoteResult(candidate_name="Amina Okafor", party="PDP", vote_count=1234),
            VoteResult(candidate_name="John Smith", party="APC", vote_count=806),
            VoteResult(candidate_name="Li Wei", party="LP", vote_count=15),
        ],
        ballot_stats=BallotStats(valid_votes=2055, rejected_ballots=45, total_ballots=2100),
    )


def evaluate(label: str, output: VoteExtraction) -> Evaluation:
    results = run_evaluators([create_evaluator(label)], EvaluatorContext(output=output, expected=truth()))
    assert len(results) == 1 and results[0].error is None
    return results[0]


def with_extra_row() -> VoteExtraction:
    output = truth()
    output.vote_results.append(VoteResult(candidate_name="Votes Obtained", party=None, vote_count=None))
    return output


def with_missing_row() -> VoteExtraction:
    output = truth()
    del output.vote_results[2]
    return output


def with_swapped_counts() -> VoteExtraction:
    output = truth()
    first, second = output.vote_results[0], output.vote_results[1]
    first.vote_count, second.vote_count = second.vote_count, first.vote_count
    return output


def with_separator_read_as_digit() -> VoteExtraction:
    output = truth()
    output.vote_results[0].vote_count = 11234  # "1,234" with the comma read as a 1
    return output


def test_a_perfect_read_is_exact_for_all_three():
    assert evaluate("vote_count_exact", truth()).value is True
    assert evaluate("vote_count_accuracy", truth()).value == 1.0
    assert evaluate("extraction_quality", truth()).value == 10.0


def test_an_extra_row_without_a_count_is_not_exact_and_the_reasoning_says_why():
    exact = evaluate("vote_count_exact", with_extra_row())
    accuracy = evaluate("vote_count_accuracy", with_extra_row())
    quality = evaluate("extraction_quality", with_extra_row())

    assert (exact.value, exact.assessment) == (False, "fail")
    assert "1 extra row: 'Votes Obtained'" in exact.reasoning
    # 6 expected counts, all right, plus the extra row as one wrong count
    assert accuracy.value == pytest.approx(6 / 7)
    assert accuracy.assessment == "fail"
    assert "1 extra row: 'Votes Obtained'" in accuracy.reasoning
    assert accuracy.details["extra_rows"] == ["Votes Obtained"]
    assert quality.value < 10.0 and quality.assessment == "fail"
    assert "1 extra row: 'Votes Obtained'" in quality.reasoning


def test_an_extra_row_with_a_count_is_not_exact_either():
    output = truth()
    output.vote_results.append(VoteResult(candidate_name="Rejected ballots", vote_count=45))

    exact = evaluate("vote_count_exact", output)

    assert exact.value is False
    assert "1 extra row: 'Rejected ballots'" in exact.reasoning


def test_a_missing_row_is_not_exact_and_the_reasoning_names_it():
    exact = evaluate("vote_count_exact", with_missing_row())
    accuracy = evaluate("vote_count_accuracy", with_missing_row())
    quality = evaluate("extraction_quality", with_missing_row())

    assert exact.value is False
    assert "1 missing row: 'Li Wei'" in exact.reasoning
    assert accuracy.value == pytest.approx(5 / 6)
    assert "1 missing row: 'Li Wei'" in accuracy.reasoning
    assert accuracy.details["missing_rows"] == ["Li Wei"]
    assert quality.assessment == "fail"
    assert "1 missing row: 'Li Wei'" in quality.reasoning


def test_counts_swapped_between_two_candidates_add_up_but_are_not_exact():
    exact = evaluate("vote_count_exact", with_swapped_counts())
    accuracy = evaluate("vote_count_accuracy", with_swapped_counts())
    quality = evaluate("extraction_quality", with_swapped_counts())

    assert exact.value is False
    assert "2 of 6 vote counts wrong" in exact.reasoning
    assert "vote_results[Amina Okafor].vote_count" in exact.reasoning
    assert "vote_results[John Smith].vote_count" in exact.reasoning
    assert accuracy.value == pytest.approx(4 / 6)
    assert quality.assessment == "fail"
    assert "vote_results[John Smith].vote_count" in quality.reasoning


def test_a_thousands_separator_read_as_a_digit_is_a_wrong_count():
    exact = evaluate("vote_count_exact", with_separator_read_as_digit())
    accuracy = evaluate("vote_count_accuracy", with_separator_read_as_digit())
    quality = evaluate("extraction_quality", with_separator_read_as_digit())

    assert exact.value is False
    assert "1 of 6 vote counts wrong: vote_results[Amina Okafor].vote_count" in exact.reasoning
    assert accuracy.value == pytest.approx(5 / 6)
    assert accuracy.details["fields"]["vote_results[Amina Okafor].vote_count"] is False
    assert quality.assessment == "fail"
    assert "vote_results[Amina Okafor].vote_count" in quality.reasoning
