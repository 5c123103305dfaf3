"""The corrections a page sends: only what a person changed, in the API's partial VoteExtraction."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from extraction_view import corrections_between, vote_rows  # noqa: E402

RESULT = {
    "form": {"constituency_name": "Likoni"},
    "vote_results": [
        {"candidate_name": "Aisha Wafula", "party": "ODM", "vote_count": 41},
        {"candidate_name": "Rudo Patel", "party": None, "vote_count": 1640},
    ],
    "ballot_stats": {"valid_votes": 1681, "rejected_ballots": 3, "total_ballots": 1684},
}


def test_nothing_changed_sends_nothing() -> None:
    assert corrections_between(RESULT, vote_rows(RESULT), dict(RESULT["ballot_stats"])) is None


def test_one_count_changed_names_only_that_candidate_and_count() -> None:
    rows = vote_rows(RESULT)
    rows[1]["votes"] = 1604.0  # the data editor answers floats

    assert corrections_between(RESULT, rows, dict(RESULT["ballot_stats"])) == {
        "vote_results": [{"candidate_name": "Rudo Patel", "vote_count": 1604}]
    }


def test_party_and_ballot_stats_changes_are_sent_and_an_emptied_cell_is_null() -> None:
    rows = vote_rows(RESULT)
    rows[0]["party"] = "Jubilee"
    rows[0]["votes"] = float("nan")
    stats = dict(RESULT["ballot_stats"]) | {"rejected_ballots": 4}

    assert corrections_between(RESULT, rows, stats) == {
        "vote_results": [{"candidate_name": "Aisha Wafula", "vote_count": None, "party": "Jubilee"}],
        "ballot_stats": {"rejected_ballots": 4},
    }


def test_a_failed_extraction_can_be_corrected_from_nothing() -> None:
    assert corrections_between(None, [], {"valid_votes": 10, "rejected_ballots": None, "total_ballots": None}) == {
        "ballot_stats": {"valid_votes": 10}
    }
