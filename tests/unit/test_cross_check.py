"""The cross check's comparison of two readings, its evaluator, and the summary of agreement."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import InvalidField
from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.cross_check import compare_readings
from shared.experiments.summary import agreement_coincidence, summarise_variant
from shared.llm.second_reader import SecondReading, choose_second_reader
from shared.models import BallotStats, VoteExtraction, VoteResult


def reading(*rows: tuple[str, int | None], valid: int | None = None, rejected: int = 5) -> VoteExtraction:
    counted = sum(v for _, v in rows if v is not None)
    valid = counted if valid is None else valid
    return VoteExtraction(
        vote_results=[VoteResult(candidate_name=name, vote_count=votes) for name, votes in rows],
        ballot_stats=BallotStats(valid_votes=valid, rejected_ballots=rejected, total_ballots=valid + rejected),
    )


PRIMARY = reading(("Amina Okafor", 120), ("John Smith", 80), ("Li Wei", 15))


def cross_check(primary: VoteExtraction, second: VoteExtraction | None, *, error: str | None = None):
    ctx = EvaluatorContext(
        output=primary,
        metadata={"second_reading": SecondReading(reader="tesseract", extraction=second, error=error)},
    )
    [result] = run_evaluators([create_evaluator("cross_check")], ctx)
    return result


def test_two_equal_readings_agree_fully_whatever_the_name_spelling():
    second = reading(("AMINA OKAFOR", 120), ("John  Smith", 80), ("Li Wei.", 15))

    comparison = compare_readings(PRIMARY, second)
    result = cross_check(PRIMARY, second)

    assert comparison.disagreements == () and comparison.compared == 6
    assert (result.value, result.assessment) == (1.0, "pass")


def test_rows_are_matched_by_name_so_counts_on_the_wrong_rows_disagree():
    # the same numbers in the same order, but the primary put them on the wrong candidates
    misaligned = reading(("John Smith", 120), ("Amina Okafor", 80), ("Li Wei", 15))

    result = cross_check(misaligned, PRIMARY)

    assert result.assessment == "fail"
    assert result.value == pytest.approx(1 - 2 / 6)
    fields = {d["field"]: (d["primary"], d["second"]) for d in result.details["disagreements"]}
    assert fields == {
        "vote_results[John Smith].vote_count": (120, 80),
        "vote_results[Amina Okafor].vote_count": (80, 120),
    }
    assert "2 of 6 vote counts disagree with tesseract" in result.reasoning


def test_a_row_only_one_reading_has_disagrees_unless_the_second_reading_s_row_holds_no_count():
    primary_extra = reading(("Amina Okafor", 120), ("John Smith", 80), ("Li Wei", 15), ("Votes", None), valid=215)
    second_stray = reading(("Amina Okafor", 120), ("John Smith", 80), ("Li Wei", 15), ("Signature", None), valid=215)
    second_counted = reading(("Amina Okafor", 120), ("John Smith", 80), ("Li Wei", 15), ("Mary Jones", 3))

    extra = compare_readings(primary_extra, PRIMARY)
    stray = compare_readings(PRIMARY, second_stray)
    counted = compare_readings(PRIMARY, second_counted)

    assert [(d.field, d.why) for d in extra.disagreements] == [
        ("vote_results[Votes].vote_count", "row only in the primary reading")
    ]
    assert stray.disagreements == ()
    assert {d.why for d in counted.disagreements} == {"row only in the second reading", "counts differ"}


def test_a_separator_read_as_a_digit_and_a_ballot_statistic_disagree():
    second = PRIMARY.model_copy(deep=True)
    second.vote_results[0].vote_count = 1120
    second.ballot_stats.rejected_ballots = 6

    result = cross_check(PRIMARY, second)

    assert {d["field"] for d in result.details["disagreements"]} == {
        "vote_results[Amina Okafor].vote_count",
        "ballot_stats.rejected_ballots",
    }


def test_a_failed_second_reading_is_recorded_as_skipped_not_as_agreement():
    result = cross_check(PRIMARY, None, error="Tesseract failed: boom")

    assert result.value is None and result.assessment is None
    assert result.details["skipped"] is True and "boom" in result.reasoning


def test_without_a_second_reading_or_an_image_the_cross_check_does_not_apply():
    assert run_evaluators([create_evaluator("cross_check")], EvaluatorContext(output=PRIMARY)) == []


def test_the_reader_param_is_checked_when_the_evaluator_is_built():
    with pytest.raises(InvalidField):
        create_evaluator("cross_check", {"reader": "gpt-4o"})
    assert create_evaluator("cross_check", {"reader": "tesseract-alternate"}).reader == "tesseract-alternate"


@pytest.mark.parametrize(
    ("primary", "params", "gemini_key", "reader", "chosen"),
    [
        ("gemini-2.5-flash", {}, "k", "", "tesseract"),  # tesseract is installed here
        ("tesseract", {}, "k", "", "gemini-2.5-flash-lite"),
        ("tesseract", {}, "", "", "tesseract-alternate"),
        ("tesseract", {"deskew": False, "remove_lines": False}, "", "", "tesseract"),
        ("gemini-2.5-pro", {}, "k", "gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.5-pro", {}, "k", "tesseract-alternate", "tesseract-alternate"),
    ],
)
def test_the_second_reader_is_chosen_to_err_differently(primary, params, gemini_key, reader, chosen):
    settings = Settings(gemini_api_key=gemini_key, cross_check_reader=reader)

    assert choose_second_reader(primary, params, settings=settings) == chosen


def test_the_summary_tells_how_often_agreement_coincides_with_being_right():
    def run(agreed: bool, right: bool) -> list[dict]:
        return [
            {
                "label": "cross_check",
                "metric_type": "score",
                "value": 1.0 if agreed else 0.5,
                "assessment": "pass" if agreed else "fail",
                "details": {"primary_right": right},
            }
        ]

    runs = [run(True, True)] * 6 + [run(True, False)] * 1 + [run(False, False)] * 2 + [run(False, True)] * 1

    entry = summarise_variant(runs)["cross_check"]

    assert entry["agreement_rate"] == pytest.approx(0.7) == entry["pass_rate"]
    assert entry["right_when_agreeing"] == pytest.approx(6 / 7)
    assert entry["wrong_when_disagreeing"] == pytest.approx(2 / 3)
    assert entry["wrong_caught"] == pytest.approx(2 / 3)
    assert agreement_coincidence([])["agreement_rate"] is None


def test_a_count_neither_reading_has_is_not_agreement():
    primary = reading(("Amina Okafor", 120), ("John Smith", None), ("Li Wei", 15), valid=215)
    second = reading(("Amina Okafor", 120), ("John Smith", None), ("Li Wei", 15), valid=215)

    result = cross_check(primary, second)

    assert result.assessment == "fail"
    assert result.details["disagreements"] == [
        {
            "field": "vote_results[John Smith].vote_count",
            "primary": None,
            "second": None,
            "why": "neither reading has a count",
        }
    ]


def test_a_failed_cross_check_is_a_review_reason_with_its_fields():
    from shared.models import Evaluation
    from shared.services.extraction import cross_check_fields, review_reasons

    disagreements = [{"field": "ballot_stats.valid_votes", "primary": 215, "second": 251, "why": "counts differ"}]
    failed = Evaluation(
        label="cross_check",
        metric_type="score",
        value=0.8,
        assessment="fail",
        evaluator_version="1.0",
        details={"disagreements": disagreements},
    )
    passed = failed.model_copy(update={"assessment": "pass", "value": 1.0, "details": {"disagreements": []}})

    assert review_reasons([failed], golden_candidate=False) == ["cross_check"]
    assert cross_check_fields([failed]) == disagreements
    assert review_reasons([passed], golden_candidate=False) == []
    assert cross_check_fields([passed]) is None


def test_without_tesseract_a_gemini_extraction_is_read_again_by_another_gemini_model(monkeypatch):
    import shared.llm.second_reader as second_reader

    monkeypatch.setattr(second_reader.shutil, "which", lambda name: None)  # as in the Cloud Functions runtime
    settings = Settings(gemini_api_key="k")

    assert choose_second_reader("gemini-2.5-flash", {}, settings=settings) == "gemini-2.5-flash-lite"
    assert choose_second_reader("gemini-2.5-flash-lite", {}, settings=settings) == "gemini-2.5-flash"
