"""Corrections, the feedback request's limits, and Datadog's tag rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.evaluation.corrections import ExtractionCorrection, apply_correction
from shared.models import BallotStats, VoteExtraction, VoteResult
from shared.observability.tags import MAX_TAG_LENGTH, sanitise_tags
from shared.services.feedback import FeedbackRequest

ORIGINAL = VoteExtraction(
    vote_results=[
        VoteResult(candidate_name="Jane Doe", party="A", vote_count=10),
        VoteResult(candidate_name="Li", vote_count=5),
    ],
    ballot_stats=BallotStats(valid_votes=15, rejected_ballots=1, total_ballots=16),
)


def test_a_correction_changes_only_what_it_names_and_matches_candidates_by_name():
    correction = ExtractionCorrection.model_validate(
        {"vote_results": [{"candidate_name": "JANE  doe", "vote_count": 11}], "ballot_stats": {"valid_votes": 16}}
    )

    corrected = apply_correction(ORIGINAL, correction)

    assert corrected.vote_results[0].vote_count == 11 and corrected.vote_results[0].party == "A"
    assert corrected.vote_results[1] == ORIGINAL.vote_results[1]
    assert corrected.ballot_stats == BallotStats(valid_votes=16, rejected_ballots=1, total_ballots=16)
    assert ORIGINAL.vote_results[0].vote_count == 10  # the original is untouched


def test_a_correction_adds_a_candidate_the_model_missed_and_can_set_null():
    correction = ExtractionCorrection.model_validate(
        {
            "vote_results": [{"candidate_name": "New Person", "vote_count": 3}],
            "ballot_stats": {"rejected_ballots": None},
        }
    )

    corrected = apply_correction(ORIGINAL, correction)

    assert [r.candidate_name for r in corrected.vote_results] == ["Jane Doe", "Li", "New Person"]
    assert corrected.ballot_stats.rejected_ballots is None


@pytest.mark.parametrize(
    "body",
    [{}, {"ballot_stats": {}}, {"vote_results": []}, {"ballot_stats": {"valid_votes": "12"}}, {"extra": 1}],
)
def test_empty_or_mistyped_corrections_are_refused(body):
    with pytest.raises(ValidationError):
        ExtractionCorrection.model_validate(body)


def test_feedback_fingerprint_ignores_the_id_and_absent_fields_but_not_values():
    base = {"span_id": "1", "trace_id": "2", "feedback_type": "thumbs_up"}
    first = FeedbackRequest.model_validate(base | {"feedback_id": "a"})
    same = FeedbackRequest.model_validate(base | {"feedback_id": "b", "comment": None})
    other = FeedbackRequest.model_validate(base | {"quality_score": 3})

    assert first.fingerprint() == same.fingerprint() != other.fingerprint()


def test_tags_follow_datadog_rules():
    tags = sanitise_tags({"User Session": "ABC 123!", "9lives": "x", "comment": "é" + "long " * 100})

    assert tags["user_session"] == "abc_123"
    assert "lives" in tags and tags["lives"] == "x"
    assert all(len(f"{k}:{v}") <= MAX_TAG_LENGTH for k, v in tags.items())
    assert all(k[0].isalpha() for k in tags)
