"""The experiment evaluators: vote-count exactness and accuracy, candidate F1, count error, completeness."""

from __future__ import annotations

import pytest

from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.offline import OFFLINE_EVALUATORS, precision_recall_f1
from shared.models import BallotStats, Evaluation, FormInfo, VoteExtraction, VoteResult


def truth() -> VoteExtraction:
    return VoteExtraction(
        form=FormInfo(constituency_name="Riverside", constituency_code="042"),
        vote_results=[
            VoteResult(candidate_name="Amina Okafor", party="PDP", vote_count=120),
            VoteResult(candidate_name="John Smith", party="APC", vote_count=80),
            VoteResult(candidate_name="Li Wei", party="LP", vote_count=15),
        ],
        ballot_stats=BallotStats(valid_votes=215, rejected_ballots=5, total_ballots=220),
    )


def evaluate(label: str, output: VoteExtraction | None, expected: VoteExtraction | None = None) -> Evaluation | None:
    ctx = EvaluatorContext(output=output, expected=truth() if expected is None else expected)
    results = run_evaluators([create_evaluator(label)], ctx)
    return results[0] if results else None


def test_every_offline_evaluator_is_registered_and_skips_an_entry_without_expected_output():
    output = truth()

    results = {
        label: run_evaluators([create_evaluator(label)], EvaluatorContext(output=output))
        for label in OFFLINE_EVALUATORS
    }

    assert {label for label, found in results.items() if found} == {"completeness"}


def test_vote_count_exact_passes_a_perfect_read_and_fails_one_wrong_ballot_statistic():
    wrong = truth()
    wrong.ballot_stats.rejected_ballots = 6

    perfect = evaluate("vote_count_exact", truth())
    failed = evaluate("vote_count_exact", wrong)

    assert (perfect.value, perfect.assessment) == (True, "pass")
    assert (failed.value, failed.assessment) == (False, "fail")
    assert "ballot_stats.rejected_ballots" in failed.reasoning


def test_vote_count_exact_ignores_a_misread_party_but_not_a_missing_candidate():
    party_wrong = truth()
    party_wrong.vote_results[0].party = "XYZ"
    missing = truth()
    del missing.vote_results[2]

    assert evaluate("vote_count_exact", party_wrong).value is True
    assert evaluate("vote_count_exact", missing).value is False


def test_vote_count_accuracy_is_the_share_of_counts_right_with_every_field_in_details():
    wrong = truth()
    wrong.vote_results[1].vote_count = 8
    wrong.vote_results[2].party = "Labour"

    result = evaluate("vote_count_accuracy", wrong)

    assert result.value == pytest.approx(5 / 6)
    assert result.assessment == "fail"
    fields = result.details["fields"]
    assert fields["vote_results[John Smith].vote_count"] is False
    assert fields["vote_results[Li Wei].party"] is False  # recorded, though not part of the score
    assert fields["ballot_stats.total_ballots"] is True
    assert sum(1 for path in fields if path.endswith("vote_count") or path.startswith("ballot_stats")) == 6


def test_vote_count_accuracy_of_a_failed_model_is_zero():
    result = evaluate("vote_count_accuracy", None)

    assert result.value == 0.0
    assert not any(result.details["fields"].values())


def test_candidate_f1_tolerates_case_and_spacing_and_reports_precision_and_recall():
    shouted = truth()
    shouted.vote_results[0].candidate_name = "  AMINA   okafor "
    extra_and_missing = truth()
    extra_and_missing.vote_results[2] = VoteResult(candidate_name="Nobody Real", vote_count=15)
    extra_and_missing.vote_results.append(VoteResult(candidate_name="Someone Else", vote_count=1))

    perfect = evaluate("candidate_f1", shouted)
    partial = evaluate("candidate_f1", extra_and_missing)

    assert (perfect.value, perfect.assessment) == (1.0, "pass")
    assert partial.details["precision"] == pytest.approx(2 / 4)
    assert partial.details["recall"] == pytest.approx(2 / 3)
    assert partial.value == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3), abs=1e-6)
    assert "precision 0.500" in partial.reasoning and "recall 0.667" in partial.reasoning


def test_precision_recall_f1_of_empty_lists():
    assert precision_recall_f1(0, predicted=0, expected=0) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(0, predicted=0, expected=3) == (0.0, 0.0, 0.0)
    assert precision_recall_f1(0, predicted=2, expected=0) == (0.0, 0.0, 0.0)


def test_count_error_is_the_mean_absolute_error_and_a_missing_count_costs_its_value():
    wrong = truth()
    wrong.vote_results[0].vote_count = 110  # off by 10
    wrong.vote_results[2].vote_count = None  # costs 15
    wrong.ballot_stats.total_ballots = 221  # off by 1

    result = evaluate("count_error", wrong)

    assert result.value == pytest.approx((10 + 15 + 1) / 6)
    assert result.assessment == "fail"
    assert result.details["relative_error"] == pytest.approx(26 / (120 + 80 + 15 + 215 + 5 + 220))
    assert result.details["max_absolute_error"] == 15


def test_count_error_is_zero_and_passes_for_a_perfect_read():
    result = evaluate("count_error", truth())

    assert (result.value, result.assessment, result.details["relative_error"]) == (0.0, "pass", 0.0)


def test_completeness_gives_the_online_classifiers_classes():
    inconsistent = truth()
    inconsistent.ballot_stats.valid_votes = 999
    incomplete = truth()
    incomplete.vote_results[1].vote_count = None

    classes = [evaluate("completeness", output).value for output in (truth(), inconsistent, incomplete, None)]

    assert classes == ["excellent", "good", "incomplete", "failed"]
