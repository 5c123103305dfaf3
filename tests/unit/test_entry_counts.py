"""A golden entry never holds a negative count: as sent, as imported, or as edited."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.services.dataset_entries import EntryRequest, EntryUpdate
from shared.services.dataset_files import parse_jsonl

IMAGE = {"image_uri": "gs://bucket/images/x.png"}


def test_a_negative_vote_count_is_refused_with_the_candidate_named() -> None:
    with pytest.raises(ValidationError, match=r"counts cannot be negative \(Musa\)"):
        EntryRequest.model_validate(
            {"input": IMAGE, "expected_output": {"vote_results": [{"candidate_name": "Musa", "vote_count": -5}]}}
        )


def test_a_negative_ballot_statistic_is_refused_on_edit() -> None:
    with pytest.raises(ValidationError, match="valid_votes"):
        EntryUpdate.model_validate({"expected_output": {"ballot_stats": {"valid_votes": -1}}})


def test_an_imported_line_with_a_negative_count_is_rejected_with_its_reason() -> None:
    good = {"input": IMAGE, "expected_output": {"vote_results": [{"candidate_name": "A", "vote_count": 0}]}}
    bad = {"input": IMAGE, "expected_output": {"vote_results": [{"candidate_name": "B", "vote_count": -2}]}}
    lines = [json.dumps(good).encode(), json.dumps(bad).encode()]

    parsed = list(parse_jsonl(lines))

    assert isinstance(parsed[0][1], EntryRequest)
    assert parsed[1][0] == 2 and "counts cannot be negative (B)" in parsed[1][1]
