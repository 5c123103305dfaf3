"""Form types as data: a type is validated whole when made, the built-ins hold their fixed keys,
and a type applied to a reading gives its statistics, rule verdicts and figures against words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.checks import check_rules, compare_figures_and_words, shaped, statistics_of
from shared.form_types.model import FormTypeDraft
from shared.form_types.resolve import builtin_form_type, declared_form_type
from shared.form_types.words import parse_number_words
from shared.models import VoteExtraction

COUNTY_FORM = {
    "name": "county_form",
    "title": "County tally",
    "language": "en",
    "statistics": [{"key": "cast", "label": "Ballots cast"}, {"key": "valid_votes", "label": "Valid"}],
    "rules": [{"id": "valid_within_cast", "expr": "valid_votes <= cast"}],
}


def test_the_built_ins_carry_the_keys_clients_rely_on() -> None:
    keys = {name: form.keys for name, form in BUILTIN_FORM_TYPES.items()}

    assert keys["generic"] == ["valid_votes", "rejected_ballots", "total_ballots"]
    assert keys["ng_ec8a"] == [
        "registered_voters", "accredited_voters", "ballots_issued", "unused_ballots",
        "spoiled_ballots", "rejected_ballots", "valid_votes", "used_ballots",
    ]  # fmt: skip
    assert keys["bo_acta"] == [
        "registered_voters",
        "ballots_in_box",
        "unused_ballots",
        "valid_votes",
        "blank_votes",
        "null_votes",
    ]
    assert keys["ke_34a"] == [
        "registered_voters",
        "rejected_ballots",
        "rejected_objected",
        "disputed_votes",
        "valid_votes",
    ]
    assert BUILTIN_FORM_TYPES["ng_ec8a"].figures_in_words and BUILTIN_FORM_TYPES["bo_acta"].language == "es"
    assert [r.severity for r in BUILTIN_FORM_TYPES["bo_acta"].rules][-1] == "warning"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"rules": [{"id": "r", "expr": "valid_votes <= nowhere"}]}, "nowhere"),
        ({"rules": [{"id": "r", "expr": "valid_votes <="}]}, "rule r"),
        ({"rules": [{"id": "r", "expr": "__import__('os') == 1"}]}, "rule r"),
        (
            {"statistics": [{"key": "cast", "label": "A"}, {"key": "cast", "label": "B"}]},
            "duplicate statistic key cast",
        ),
        ({"rules": [{"id": "r", "expr": "cast >= 0"}, {"id": "r", "expr": "cast >= 1"}]}, "duplicate rule id r"),
        ({"name": "../etc/passwd"}, "name"),
        ({"name": "County Form"}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"title": "tally\x1b[31m"}, "control characters"),
        ({"statistics": [{"key": "cast", "label": "Ballots\ncast"}]}, "control characters"),
        ({"statistics": []}, "statistics"),
        ({"figures_in_words": "yes"}, "figures_in_words"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_type_is_refused_naming_what_is_wrong(change: dict, named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        FormTypeDraft.model_validate({**COUNTY_FORM, **change})
    assert named in str(refused.value)


def test_a_user_type_is_accepted_and_its_rules_run() -> None:
    draft = FormTypeDraft.model_validate(COUNTY_FORM)
    reading = VoteExtraction.model_validate({"statistics": {"cast": 10, "valid_votes": 12}})

    from shared.form_types.model import FormType

    (check,) = check_rules(FormType.from_draft(draft, version=3), reading)
    assert (check.rule, check.status, check.detail) == (
        "valid_within_cast", "fail", "valid_votes (12) <= cast (10): fails (12 > 10)"
    )  # fmt: skip


def test_an_over_voted_ec8a_fails_the_rule_it_breaks_and_only_that_one() -> None:
    ec8a = BUILTIN_FORM_TYPES["ng_ec8a"]
    paper = VoteExtraction.model_validate(
        {
            "vote_results": [
                {"candidate_name": "APC", "vote_count": 300},
                {"candidate_name": "PDP", "vote_count": 210},
            ],
            "statistics": {
                "registered_voters": 900, "accredited_voters": 500, "ballots_issued": 600, "unused_ballots": 70,
                "spoiled_ballots": 10, "rejected_ballots": 10, "valid_votes": 510, "used_ballots": 530,
            },
        }
    )  # fmt: skip

    verdicts = {c.rule: c.status for c in check_rules(ec8a, paper)}

    assert verdicts == {
        "valid_is_sum_of_votes": "pass",
        "used_is_spoiled_rejected_valid": "pass",
        "issued_is_unused_plus_used": "pass",
        "not_over_voted": "fail",
        "accredited_within_register": "pass",
    }


def test_sum_of_votes_adds_the_rows_that_have_a_count() -> None:
    generic = BUILTIN_FORM_TYPES["generic"]
    blank_rows = VoteExtraction.model_validate(
        {
            "vote_results": [{"candidate_name": "A", "vote_count": 5}, {"candidate_name": "B"}],
            "ballot_stats": {"valid_votes": 5},
        }
    )
    assert check_rules(generic, blank_rows)[0].status == "pass"
    no_counts = VoteExtraction.model_validate(
        {"vote_results": [{"candidate_name": "A"}], "ballot_stats": {"valid_votes": 5}}
    )
    assert check_rules(generic, no_counts)[0].status == "not_checked"


def test_a_record_made_before_form_types_reads_its_ballot_stats_as_generic_statistics() -> None:
    old = VoteExtraction.model_validate(
        {
            "form": {"form_type": "Form 34A"},
            "ballot_stats": {"valid_votes": 7, "rejected_ballots": 1, "total_ballots": 8},
        }
    )

    assert declared_form_type(old) == "generic"
    assert statistics_of(old, BUILTIN_FORM_TYPES["generic"]) == {
        "valid_votes": 7,
        "rejected_ballots": 1,
        "total_ballots": 8,
    }
    assert shaped(old, BUILTIN_FORM_TYPES["generic"]).ballot_stats == old.ballot_stats


def test_a_reading_shaped_by_a_type_names_it_and_keeps_only_its_keys() -> None:
    reading = VoteExtraction.model_validate(
        {"vote_results": [{"candidate_name": "A", "vote_count": 1, "vote_count_words": "ONE"}],
         "statistics": {"valid_votes": 1, "stray": 4}}
    )  # fmt: skip

    acta = shaped(reading, BUILTIN_FORM_TYPES["bo_acta"])

    assert acta.form.form_type == "bo_acta@1"
    assert list(acta.statistics) == BUILTIN_FORM_TYPES["bo_acta"].keys and acta.statistics["valid_votes"] == 1
    assert acta.vote_results[0].vote_count_words is None  # the acta has no words column
    assert declared_form_type(acta) == "bo_acta@1" and builtin_form_type("bo_acta@1") is BUILTIN_FORM_TYPES["bo_acta"]
    assert builtin_form_type("bo_acta@2") is None and builtin_form_type("Form 34A") is None


@pytest.mark.parametrize(
    ("words", "language", "count"),
    [
        ("TWO HUNDRED AND THREE", "en", 203),
        ("One Thousand, Two Hundred and Forty-One", "en", 1241),
        ("NIL", "en", 0),
        ("-", "en", 0),
        ("ninety nine only", "en", 99),
        ("doscientos tres", "es", 203),
        ("mil doscientos cuarenta y uno", "es", 1241),
        ("veintiún", "es", 21),
        ("cero", "es", 0),
        ("doscientos tres", "en", None),  # not English
        ("TWO HUNDRED AND THREE", "es", None),
        ("twenty banana", "en", None),
        ("", "en", None),
        (None, "en", None),
    ],
)
def test_counts_in_words_are_read_in_the_papers_language(words: str | None, language: str, count: int | None) -> None:
    assert parse_number_words(words, language) == count


def test_figures_against_words_names_the_rows_that_differ() -> None:
    ec8a = BUILTIN_FORM_TYPES["ng_ec8a"]
    reading = VoteExtraction.model_validate(
        {
            "vote_results": [
                {"candidate_name": "APC", "party": "APC", "vote_count": 203, "vote_count_words": "TWO HUNDRED AND TWO"},
                {"candidate_name": "PDP", "party": "PDP", "vote_count": 0, "vote_count_words": "NIL"},
                {"candidate_name": "LP", "party": "LP", "vote_count": 17, "vote_count_words": "smudge"},
                {"candidate_name": "ADC", "party": "ADC"},
            ]
        }
    )

    comparison = compare_figures_and_words(ec8a, reading)

    assert comparison.compared == 2
    assert comparison.differing == ("APC: figures 203, words 'TWO HUNDRED AND TWO' (202)",)
    assert comparison.unreadable == ("LP: 'smudge'",)
