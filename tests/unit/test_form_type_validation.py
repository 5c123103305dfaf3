"""Data checked against its form type (shared/form_types/validation.py)."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, InvalidField
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.model import FormTypeDraft
from shared.form_types.validation import check_expected, check_new_form_type, check_statistic_keys
from shared.models import BallotStats, VoteExtraction

GENERIC, NIGERIA, KENYA = (BUILTIN_FORM_TYPES[name] for name in ("generic", "ng_ec8a", "ke_34a"))


def test_an_expected_output_in_its_types_keys_passes():
    check_expected(None, GENERIC)
    check_expected(VoteExtraction(ballot_stats=BallotStats(valid_votes=10, total_ballots=12)), GENERIC)
    check_expected(VoteExtraction(statistics={"accredited_voters": 40, "used_ballots": None}), NIGERIA)
    # Empty ballot_stats fields say nothing about the paper: fine on any type.
    check_expected(VoteExtraction(ballot_stats=BallotStats(), statistics={"disputed_votes": 0}), KENYA)


def test_an_unknown_statistics_key_is_named():
    expected = VoteExtraction(statistics={"valid_votes": 1, "blank_votes": 2, "accredited_voters": 3})

    with pytest.raises(InvalidField) as raised:
        check_expected(expected, GENERIC)

    assert raised.value.status == 422
    assert "accredited_voters, blank_votes" in raised.value.message and "generic@1" in raised.value.message
    assert raised.value.details == {
        "field": "expected.statistics",
        "unknown": ["accredited_voters", "blank_votes"],
        "form_type": "generic@1",
        "statistics": ["valid_votes", "rejected_ballots", "total_ballots"],
    }


def test_a_filled_ballot_stats_field_the_type_lacks_is_named():
    with pytest.raises(InvalidField) as raised:
        check_expected(VoteExtraction(ballot_stats=BallotStats(valid_votes=5, total_ballots=9)), KENYA, field="entry")

    assert raised.value.details["field"] == "entry.ballot_stats"
    assert raised.value.details["unknown"] == ["total_ballots"]


def test_many_unknown_keys_are_all_in_the_details_and_the_sentence_stays_short():
    keys = [f"key_{n:02d}" for n in range(30)]

    with pytest.raises(InvalidField) as raised:
        check_statistic_keys(keys, NIGERIA, field="corrections.statistics")

    assert raised.value.details["unknown"] == keys
    assert raised.value.message.count("key_") == 10 and " ..." in raised.value.message


def test_a_builtins_name_is_not_open_to_new_versions():
    draft = FormTypeDraft(name="generic", title="Mine", statistics=[{"key": "valid_votes", "label": "Valid"}])

    with pytest.raises(Conflict):
        check_new_form_type(draft)
    check_new_form_type(draft.model_copy(update={"name": "generic_county"}))
