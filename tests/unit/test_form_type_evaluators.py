"""The evaluators speak the paper's own arithmetic: the type comes from the caller (extract, the
experiment runner) or from what the expected output names, and every statistic key is compared."""

from __future__ import annotations

from shared.evaluation.base import EvaluatorContext
from shared.evaluation.catalog import create_evaluator
from shared.evaluation.cross_check import compare_readings
from shared.evaluation.registry import run_evaluators
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.models import Evaluation, VoteExtraction

ACTA = BUILTIN_FORM_TYPES["bo_acta"]


def acta(valid: int, blank: int, null: int, box: int, *, registered: int = 300, unused: int = 0) -> VoteExtraction:
    return VoteExtraction.model_validate(
        {
            "form": {"form_type": "bo_acta@1"},
            "vote_results": [
                {"candidate_name": "MAS-IPSP", "vote_count": valid - 10},
                {"candidate_name": "CC", "vote_count": 10},
            ],
            "statistics": {"registered_voters": registered, "ballots_in_box": box, "unused_ballots": unused,
                           "valid_votes": valid, "blank_votes": blank, "null_votes": null},
        }
    )  # fmt: skip


def evaluate(name: str, ctx: EvaluatorContext) -> Evaluation:
    (evaluation,) = run_evaluators([create_evaluator(name)], ctx)
    return evaluation


def test_consistency_checks_the_type_the_caller_resolved_and_names_the_broken_rule() -> None:
    over_full_box = acta(100, 5, 3, 110, registered=300, unused=190)  # 100 + 5 + 3 = 108, not 110

    verdict = evaluate("consistency", EvaluatorContext(output=over_full_box, metadata={"form_type": ACTA}))

    assert verdict.value is False and verdict.assessment == "fail"
    assert "box_is_valid_blank_null fails" in verdict.reasoning
    assert "ballots_in_box (110) == valid_votes (100) + blank_votes (5) + null_votes (3)" in verdict.reasoning
    assert verdict.details["form_type"] == "bo_acta@1"
    assert {c["rule"]: c["status"] for c in verdict.details["checks"]} == {
        "valid_is_sum_of_votes": "pass",
        "box_is_valid_blank_null": "fail",
        "box_within_register": "pass",
        "box_plus_unused_is_register": "pass",
    }


def test_a_failing_warning_rule_is_named_but_does_not_fail_consistency() -> None:
    short_of_register = acta(100, 5, 3, 108, registered=300, unused=150)  # 108 + 150 != 300

    verdict = evaluate("consistency", EvaluatorContext(output=short_of_register))  # type from form.form_type

    assert verdict.value is True
    assert "warning box_plus_unused_is_register" in verdict.reasoning


def test_figures_match_words_applies_only_where_the_type_writes_words() -> None:
    ec8a = VoteExtraction.model_validate(
        {"form": {"form_type": "ng_ec8a@1"},
         "vote_results": [{"candidate_name": "APC", "party": "APC", "vote_count": 12, "vote_count_words": "TWELVE"},
                          {"candidate_name": "LP", "party": "LP", "vote_count": 30, "vote_count_words": "THIRTEEN"}]}
    )  # fmt: skip

    mismatch = evaluate("figures_match_words", EvaluatorContext(output=ec8a))
    assert mismatch.value is False and "LP: figures 30, words 'THIRTEEN' (13)" in mismatch.reasoning
    assert (
        run_evaluators([create_evaluator("figures_match_words")], EvaluatorContext(output=acta(100, 5, 3, 108))) == []
    )


def test_exact_and_accuracy_compare_every_statistic_of_the_type() -> None:
    expected = acta(100, 5, 3, 108)
    misread_blank = acta(100, 6, 3, 108)

    exact = evaluate("vote_count_exact", EvaluatorContext(output=misread_blank, expected=expected))
    accuracy = evaluate("vote_count_accuracy", EvaluatorContext(output=misread_blank, expected=expected))

    assert exact.value is False and "statistics.blank_votes" in exact.reasoning
    assert accuracy.details["fields"]["statistics.blank_votes"] is False
    assert accuracy.value == round(7 / 8, 6)  # 2 rows + 6 statistics, one wrong
    count_error = evaluate("count_error", EvaluatorContext(output=misread_blank, expected=expected))
    assert count_error.details["total_absolute_error"] == 1


def test_generic_keeps_its_field_paths() -> None:
    expected = VoteExtraction.model_validate(
        {
            "vote_results": [{"candidate_name": "A", "vote_count": 4}],
            "ballot_stats": {"valid_votes": 4, "total_ballots": 5},
        }
    )
    accuracy = evaluate("vote_count_accuracy", EvaluatorContext(output=expected, expected=expected))
    assert set(accuracy.details["fields"]) == {
        "vote_results[A].vote_count",
        "ballot_stats.valid_votes",
        "ballot_stats.total_ballots",
    }


def test_the_cross_check_compares_every_statistic_either_reading_has() -> None:
    comparison = compare_readings(acta(100, 5, 3, 108), acta(100, 5, 8, 108))

    assert [(d.field, d.primary, d.second) for d in comparison.disagreements] == [("statistics.null_votes", 3, 8)]


def test_an_expected_output_naming_generic_at_1_keeps_generics_field_paths() -> None:
    expected = VoteExtraction.model_validate(
        {"form": {"form_type": "generic@1"}, "vote_results": [{"candidate_name": "A", "vote_count": 4}],
         "ballot_stats": {"valid_votes": 4}}
    )  # fmt: skip
    accuracy = evaluate("vote_count_accuracy", EvaluatorContext(output=expected, expected=expected))
    assert set(accuracy.details["fields"]) == {"vote_results[A].vote_count", "ballot_stats.valid_votes"}


def test_on_a_typed_paper_a_blank_row_is_blank_not_unread() -> None:
    ec8a = VoteExtraction.model_validate(
        {
            "form": {"form_type": "ng_ec8a@1"},
            "vote_results": [{"candidate_name": "A", "vote_count": 12}, {"candidate_name": "AA"}],
            "statistics": {key: 1 for key in BUILTIN_FORM_TYPES["ng_ec8a"].keys},
        }
    )
    all_blank = ec8a.model_copy(update={"vote_results": [ec8a.vote_results[1]]})

    assert evaluate("output_classification", EvaluatorContext(output=ec8a)).value != "incomplete"
    assert evaluate("output_classification", EvaluatorContext(output=all_blank)).value == "incomplete"
    assert compare_readings(ec8a, ec8a).agreement == 1.0  # AA blank in both readings: confirmed blank
    generic = VoteExtraction.model_validate({"vote_results": [{"candidate_name": "A"}]})
    assert compare_readings(generic, generic).agreement == 0.0  # nothing confirmed
