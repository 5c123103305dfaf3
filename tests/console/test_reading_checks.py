"""Which checks a reading failed, in the sentences the page says first (pure: no page, no API)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from reading_checks import check_failures, warnings_only  # noqa: E402


def record(*evaluations: dict) -> dict:
    return {"status": "succeeded", "evaluations": list(evaluations)}


def consistency(value: bool, *checks: tuple[str, str, str], reasoning: str = "") -> dict:
    return {
        "label": "consistency",
        "value": value,
        "assessment": "pass" if value else "fail",
        "reasoning": reasoning,
        "details": {
            "form_type": "ng_ec8a@1",
            "checks": [{"rule": r, "status": s, "severity": sev, "detail": f"{r} detail"} for r, s, sev in checks],
        },
    }


def test_failed_and_unchecked_rules_are_named_and_holding_ones_are_not() -> None:
    failures = check_failures(
        record(
            consistency(
                False,
                ("valid_is_sum_of_votes", "fail", "error"),
                ("not_over_voted", "pass", "error"),
                ("accredited_within_register", "not_checked", "error"),
            )
        )
    )

    assert failures == [
        "`valid_is_sum_of_votes`: valid\\_is\\_sum\\_of\\_votes detail",
        "`accredited_within_register` could not be checked: accredited\\_within\\_register detail",
    ]


def test_words_that_differ_are_named_row_by_row() -> None:
    words = {
        "label": "figures_match_words",
        "value": False,
        "assessment": "fail",
        "details": {"differing": ["PDP: figures 117, words 'ONE HUNDRED AND SEVENTY' (170)"], "unreadable": []},
    }

    failures = check_failures(record(consistency(True, ("valid_is_sum_of_votes", "pass", "error")), words))

    assert failures == [
        "`figures_match_words`: figures and words differ, PDP: figures 117, words 'ONE HUNDRED AND SEVENTY' (170)"
    ]


def test_a_passing_reading_with_a_failing_warning_is_a_warning_not_a_failure() -> None:
    reading = record(consistency(True, ("box_plus_unused_is_register", "fail", "warning")))

    assert check_failures(reading) == []
    assert warnings_only(reading) == ["`box_plus_unused_is_register`: box\\_plus\\_unused\\_is\\_register detail"]


def test_a_record_from_before_form_types_says_the_evaluators_sentence() -> None:
    old = {"label": "consistency", "value": False, "assessment": "fail", "reasoning": "valid 10 != sum 12"}

    assert check_failures(record(old)) == ["consistency: valid 10 != sum 12"]
    assert check_failures(record()) == []  # nothing checked: nothing claimed
