"""An expected output against its form type (shared.form_types.expected), an entry's checks, and
the experiment summary's field kinds for a type's statistics."""

from __future__ import annotations

import pytest

from shared.errors import InvalidField
from shared.experiments.summary import field_kind, per_field_accuracy
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.expected import entry_form_type_ref
from shared.form_types.validation import check_expected
from shared.models import VoteExtraction
from shared.services.dataset_entries import EntryRequest, typed_fields

EC8A = BUILTIN_FORM_TYPES["ng_ec8a"]
GENERIC = BUILTIN_FORM_TYPES["generic"]


def reading(**fields) -> VoteExtraction:
    return VoteExtraction.model_validate(fields)


def test_a_statistic_the_type_does_not_print_is_refused_wherever_it_is_written():
    with pytest.raises(InvalidField) as in_statistics:
        check_expected(reading(statistics={"blank_votes": 4}), EC8A, field="entries[2].expected_output")
    with pytest.raises(InvalidField) as in_ballot_stats:
        check_expected(reading(ballot_stats={"total_ballots": 3}), EC8A, field="expected_output")

    assert "names blank_votes, not a statistic of form type ng_ec8a@1" in in_statistics.value.message
    assert in_statistics.value.details["field"] == "entries[2].expected_output.statistics"
    assert in_ballot_stats.value.details["unknown"] == ["total_ballots"]
    check_expected(reading(statistics={"valid_votes": 4}), EC8A, field="expected_output")  # fits: no error
    check_expected(reading(ballot_stats={"total_ballots": None}), EC8A, field="e")  # an empty default


def test_words_only_where_the_paper_has_a_words_column():
    worded = reading(vote_results=[{"candidate_name": "A", "vote_count": 3, "vote_count_words": "THREE"}])

    check_expected(worded, EC8A, field="expected_output")
    with pytest.raises(InvalidField, match="no counts in words"):
        check_expected(worded, GENERIC, field="expected_output")


@pytest.mark.parametrize(
    "stored, declared, ref",
    [
        ("county_x@3", "county_x", "county_x@3"),  # what the entry stored wins
        (None, "Form 34A", "generic@1"),  # free text from before form types
        (None, None, "generic@1"),
        (None, "ke_34a", "ke_34a@1"),
        (None, "county_x", "generic@1"),  # made before: only a built-in is taken at its word
    ],
)
def test_an_entrys_type(stored, declared, ref):
    assert entry_form_type_ref(stored, reading(form={"form_type": declared})) == ref


def test_checks_are_every_rules_verdict_on_the_expected_output():
    expected = reading(
        vote_results=[{"candidate_name": "A", "vote_count": 10}, {"candidate_name": "B", "vote_count": 5}],
        ballot_stats={"valid_votes": 16, "rejected_ballots": 1, "total_ballots": 17},
    )

    typed = typed_fields(expected, GENERIC)

    assert typed["form_type"] == "generic@1"
    assert [(c["rule"], c["status"]) for c in typed["checks"]] == [
        ("valid_is_sum_of_votes", "fail"),
        ("total_is_valid_plus_rejected", "pass"),
    ]
    assert "16 != 15" in typed["checks"][0]["detail"]


@pytest.mark.parametrize("statistics", [{"valid_votes": -1}, {"used_ballots": 2**63}])
def test_a_golden_statistic_is_a_count_firestore_can_store(statistics):
    with pytest.raises(ValueError, match="counts cannot"):
        EntryRequest.model_validate({"input": {}, "expected_output": {"statistics": statistics}})


def test_each_statistic_is_its_own_field_kind_beside_the_candidates_fields():
    runs = [
        {
            "statistics.accredited_voters": True,
            "statistics.used_ballots": False,
            "vote_results[APC].vote_count": True,
            "vote_results[PDP].vote_count": False,
            "vote_results[A.B. Obi].vote_count_words": True,
        }
    ]

    assert field_kind("statistics.accredited_voters") == "statistics.accredited_voters"
    assert field_kind("vote_results[A.B. Obi].vote_count_words") == "vote_results[*].vote_count_words"
    assert per_field_accuracy(runs) == {
        "statistics.accredited_voters": 1.0,
        "statistics.used_ballots": 0.0,
        "vote_results[*].vote_count": 0.5,
        "vote_results[*].vote_count_words": 1.0,
    }
