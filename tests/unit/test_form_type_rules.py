"""The rule grammar: what parses, what is refused (never evaluated as Python), and each verdict."""

from __future__ import annotations

import pytest

from shared.form_types.rules import RuleError, parse_rule

VALUES = {"valid_votes": 520, "rejected_ballots": 12, "spoiled_ballots": 3, "used_ballots": 540, "blank": None}


@pytest.mark.parametrize(
    ("rule", "votes", "status"),
    [
        ("valid_votes == sum(votes)", 520, "pass"),
        ("valid_votes == sum(votes)", 519, "fail"),
        ("valid_votes == sum(votes)", None, "not_checked"),
        ("used_ballots == spoiled_ballots + rejected_ballots + valid_votes", None, "fail"),
        ("used_ballots - (spoiled_ballots + rejected_ballots) >= valid_votes", None, "pass"),
        ("valid_votes + rejected_ballots <= 532", None, "pass"),
        ("valid_votes + rejected_ballots < 532", None, "fail"),
        ("-valid_votes > -521", None, "pass"),
        ("blank + 1 == 1", None, "not_checked"),
        ("sum ( votes ) >= 0", 0, "pass"),
    ],
)
def test_a_rule_is_checked_against_a_readings_numbers(rule: str, votes: int | None, status: str) -> None:
    assert parse_rule(rule).check(VALUES, votes)[0] == status


def test_an_explanation_names_every_operand_with_its_number() -> None:
    rule = parse_rule("used_ballots == spoiled_ballots + rejected_ballots + valid_votes")

    assert rule.explain(VALUES, None) == (
        "used_ballots (540) == spoiled_ballots (3) + rejected_ballots (12) + valid_votes (520): fails (540 != 535)"
    )
    assert "not checked, no value for blank" in parse_rule("blank <= valid_votes").explain(VALUES, None)
    assert "no value for sum(votes)" in parse_rule("valid_votes == sum(votes)").explain(VALUES, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "valid_votes",  # no comparison
        "a == b == c",  # two comparisons
        "a +",
        "(a == b",
        "a == (b",
        "__import__('os').system('id') == 0",
        "a.b == 1",
        "a * 2 == b",  # only + and -
        "a / 2 == b",
        "a ** 2 == b",
        "sum(rows) == a",
        "len(a) == 1",
        "a == 1; b",
        "a != b",
        "A == b",  # keys are lower-case snake case
        "a == 1e5",
        "a == " + "(" * 30 + "1" + ")" * 30,  # nests too deep
        "a == " + "1 + " * 200 + "1",  # too long
        "a\n== b\x00",
    ],
)
def test_anything_outside_the_grammar_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse_rule(text)
    assert str(refused.value) and "Traceback" not in str(refused.value)


def test_keys_name_what_a_rule_reads() -> None:
    assert parse_rule("a + (b - c) <= sum(votes) + 3").keys == {"a", "b", "c"}
