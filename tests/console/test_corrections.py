"""The corrections a page sends: only what a person changed, in the API's partial VoteExtraction,
statistics by the form type's keys."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from extraction_view import corrections_between, vote_rows  # noqa: E402
from form_type_view import GENERIC_TYPE, ShownType, statistic_values  # noqa: E402

from shared.form_types.builtin import BUILTIN_FORM_TYPES  # noqa: E402

GENERIC = ShownType(GENERIC_TYPE)
NG_EC8A = ShownType(BUILTIN_FORM_TYPES["ng_ec8a"].model_dump())
RESULT = {
    "form": {"constituency_name": "Likoni"},
    "vote_results": [
        {"candidate_name": "Aisha Wafula", "party": "ODM", "vote_count": 41},
        {"candidate_name": "Rudo Patel", "party": None, "vote_count": 1640},
    ],
    "ballot_stats": {"valid_votes": 1681, "rejected_ballots": 3, "total_ballots": 1684},
}
EC8A_RESULT = {
    "form": {"constituency_name": "Ward 4, PU 012", "form_type": "ng_ec8a@1"},
    "vote_results": [
        {"candidate_name": "APC", "party": "APC", "vote_count": 203, "vote_count_words": "TWO HUNDRED AND THREE"},
        {"candidate_name": "PDP", "party": "PDP", "vote_count": 0, "vote_count_words": "NIL"},
    ],
    "statistics": {"registered_voters": 750, "accredited_voters": 240, "valid_votes": 203, "rejected_ballots": 4},
}


def stats_of(result: dict, shown: ShownType) -> dict:
    return {key: value for key, _, value in statistic_values(result, shown)}


def test_nothing_changed_sends_nothing() -> None:
    assert corrections_between(RESULT, vote_rows(RESULT), stats_of(RESULT, GENERIC), GENERIC) is None


def test_one_count_changed_names_only_that_candidate_and_count() -> None:
    rows = vote_rows(RESULT)
    rows[1]["votes"] = 1604.0  # the data editor answers floats

    assert corrections_between(RESULT, rows, stats_of(RESULT, GENERIC), GENERIC) == {
        "vote_results": [{"candidate_name": "Rudo Patel", "vote_count": 1604}]
    }


def test_party_and_statistics_changes_are_sent_by_key_and_an_emptied_cell_is_null() -> None:
    rows = vote_rows(RESULT)
    rows[0]["party"] = "Jubilee"
    rows[0]["votes"] = float("nan")
    stats = stats_of(RESULT, GENERIC) | {"rejected_ballots": 4}

    assert corrections_between(RESULT, rows, stats, GENERIC) == {
        "vote_results": [{"candidate_name": "Aisha Wafula", "vote_count": None, "party": "Jubilee"}],
        "statistics": {"rejected_ballots": 4},
    }


def test_a_failed_extraction_can_be_corrected_from_nothing() -> None:
    assert corrections_between(
        None, [], {"valid_votes": 10, "rejected_ballots": None, "total_ballots": None}, GENERIC
    ) == {"statistics": {"valid_votes": 10}}


def test_an_ec8a_reading_is_corrected_by_its_own_keys_and_words() -> None:
    rows = vote_rows(EC8A_RESULT)
    rows[0]["words"] = "TWO HUNDRED AND TWO"
    stats = stats_of(EC8A_RESULT, NG_EC8A) | {"used_ballots": 207, "accredited_voters": 241}

    corrections = corrections_between(EC8A_RESULT, rows, stats, NG_EC8A)

    assert corrections == {
        "vote_results": [{"candidate_name": "APC", "vote_count_words": "TWO HUNDRED AND TWO"}],
        "statistics": {"accredited_voters": 241, "used_ballots": 207},
    }
    assert set(corrections["statistics"]) <= {s["key"] for s in NG_EC8A.statistics}


def test_an_ec8a_reading_is_shown_by_the_labels_printed_on_the_paper() -> None:
    shown = statistic_values(EC8A_RESULT, NG_EC8A)

    assert [label for _, label, _ in shown][:2] == [
        "1. Number of Voters on the Register",
        "2. Number of Accredited Voters",
    ]
    assert dict((key, value) for key, _, value in shown)["valid_votes"] == 203
    assert len(shown) == 8 and NG_EC8A.has_words and not GENERIC.has_words
