"""How a judge reads an extraction: in its paper's shape, statistics under their printed labels.

The text Ragas' metrics judge (`canonical_text`), the llm_judge's JSON (`labelled_json`, in its
prompt) and Ragas' question (`task_question`) name a typed paper's own statistics; `generic`
renders as it always did.
"""

from __future__ import annotations

import json

from shared.evaluation import EvaluatorContext, create_evaluator
from shared.evaluation.ragas_metrics import canonical_text, labelled_json, task_question
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.checks import shaped
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult

NG_EC8A = BUILTIN_FORM_TYPES["ng_ec8a"]


def ec8a_reading(*, valid_votes: int = 260) -> VoteExtraction:
    return shaped(
        VoteExtraction(
            form=FormInfo(constituency_name="Ward 04 PU 012"),
            vote_results=[
                VoteResult(candidate_name="APC", party="APC", vote_count=203, vote_count_words="TWO HUNDRED AND THREE"),
                VoteResult(candidate_name="PDP", party="PDP", vote_count=0, vote_count_words="NIL"),
            ],
            statistics={"registered_voters": 750, "accredited_voters": 280, "valid_votes": valid_votes},
        ),
        NG_EC8A,
    )


def generic_reading() -> VoteExtraction:
    return VoteExtraction(
        form=FormInfo(constituency_name="Riverside", constituency_code="017", form_type="Form 35A"),
        vote_results=[VoteResult(candidate_name="Amina Okafor", party="PDP", vote_count=120)],
        ballot_stats=BallotStats(valid_votes=120, rejected_ballots=5, total_ballots=125),
    )


def test_a_typed_paper_s_text_names_its_statistics_by_printed_label_in_order_with_the_words() -> None:
    text = canonical_text(ec8a_reading(), NG_EC8A)

    lines = text.splitlines()
    assert lines[2] == "Candidate APC (APC): 203 votes (TWO HUNDRED AND THREE in words)"
    assert lines[-8:] == [
        "1. Number of Voters on the Register: 750",
        "2. Number of Accredited Voters: 280",
        "3. Number of Ballot Papers Issued to the Polling Unit: unknown",
        "4. Number of Unused Ballot Papers: unknown",
        "5. Number of Spoiled Ballot Papers: unknown",
        "6. Number of Rejected Ballots: unknown",
        "7. Total Number of Valid Votes: 260",
        "8. Total Number of Used Ballot Papers (#5 + #6 + #7): unknown",
    ]
    assert "Valid votes" not in text


def test_a_generic_reading_s_text_is_what_it_always_was() -> None:
    text = canonical_text(generic_reading())

    assert text == (
        "Constituency: Riverside (code 017)\n"
        "Form type: Form 35A\n"
        "Candidate Amina Okafor (PDP): 120 votes\n"
        "Valid votes: 120\n"
        "Rejected ballots: 5\n"
        "Total ballots: 125"
    )
    assert canonical_text(shaped(generic_reading(), GENERIC_FORM_TYPE)) == text


def test_the_judge_s_json_carries_each_statistic_with_its_label_and_no_ballot_stats() -> None:
    rendered = json.loads(labelled_json(ec8a_reading(), NG_EC8A))

    assert "ballot_stats" not in rendered
    assert rendered["statistics"][6] == {"key": "valid_votes", "label": "7. Total Number of Valid Votes", "value": 260}
    assert [s["key"] for s in rendered["statistics"]] == NG_EC8A.keys
    assert rendered["vote_results"][0]["vote_count_words"] == "TWO HUNDRED AND THREE"


def test_a_generic_reading_s_json_for_the_judge_has_its_three_statistics_and_no_words() -> None:
    rendered = json.loads(labelled_json(generic_reading(), GENERIC_FORM_TYPE))

    assert rendered["statistics"] == [
        {"key": "valid_votes", "label": "Valid votes", "value": 120},
        {"key": "rejected_ballots", "label": "Rejected ballots", "value": 5},
        {"key": "total_ballots", "label": "Total ballots", "value": 125},
    ]
    assert "vote_count_words" not in rendered["vote_results"][0]


def test_the_llm_judge_is_shown_the_paper_and_both_readings_with_printed_labels() -> None:
    judge = create_evaluator("llm_judge", {"rubric": "Are the numbers right?"})
    ctx = EvaluatorContext(
        output=ec8a_reading(valid_votes=206),
        expected=ec8a_reading(),
        metadata={"form_type": NG_EC8A},
    )

    prompt = judge.prompt(ctx)  # type: ignore[attr-defined]

    assert "The paper: Nigeria INEC Form EC8A (polling unit result)." in prompt
    expected_part, output_part = prompt.split("Model output:")
    assert '"label":"7. Total Number of Valid Votes","value":260' in expected_part
    assert '"label":"7. Total Number of Valid Votes","value":206' in output_part


def test_ragas_question_asks_for_a_typed_paper_s_own_statistics() -> None:
    typed = task_question(EvaluatorContext(output=ec8a_reading(), metadata={"form_type": NG_EC8A}))
    generic = task_question(EvaluatorContext(output=generic_reading()))

    assert "2. Number of Accredited Voters" in typed and "total ballots" not in typed
    assert generic.endswith("and the valid votes, rejected ballots and total ballots.")
