"""The alignment's own rules, without Gemini: the seeded split, the choice of examples, the
rubric's learnt rules, the paired verdict; and Gemini's documented image token count."""

from __future__ import annotations

from types import SimpleNamespace

from shared.evaluation.judge_image import image_tokens
from shared.evaluation.judges.alignment import (
    RULES_HEADING,
    choose_examples,
    holds_out,
    paired_verdict,
    refined_rubric,
)


def decision(extraction_id: str, verdict: str, note: str | None = None):
    return SimpleNamespace(extraction_id=extraction_id, verdict=verdict, note=note)


def test_the_split_is_a_seeded_hash_of_the_extraction_id():
    ids = [f"e{i:03d}" for i in range(400)]

    first = [i for i in ids if holds_out(i, seed=3, fraction=0.3)]
    again = [i for i in ids if holds_out(i, seed=3, fraction=0.3)]
    other = [i for i in ids if holds_out(i, seed=4, fraction=0.3)]

    assert first == again and first != other
    assert 90 <= len(first) <= 150  # about 30% of 400


def test_examples_are_disagreements_first_and_balanced():
    learn = [decision(f"p{i}", "pass") for i in range(5)] + [decision(f"f{i}", "fail") for i in range(5)]
    judged = {"p3": "fail", "f4": "pass"}  # the judge disagreed with people on these two

    chosen = [d.extraction_id for d in choose_examples(learn, judged, 4)]

    assert chosen[:2] == ["f4", "p3"] and sorted(c[0] for c in chosen) == ["f", "f", "p", "p"]


def test_the_rubric_gains_the_reviewers_notes_once_each():
    learn = [decision("a", "fail", "Row 3 misread."), decision("b", "fail", "Row 3 misread."), decision("c", "pass")]

    once = refined_rubric("Judge the counts.", learn)
    twice = refined_rubric(once, learn)

    assert once.startswith("Judge the counts.\n\n" + RULES_HEADING)
    assert once.count("Row 3 misread.") == 1 and twice == once


def test_the_paired_verdict_follows_mcnemar():
    assert paired_verdict([False] * 8, [True] * 8)["verdict"] == "better"
    assert paired_verdict([True] * 8, [False] * 8)["verdict"] == "worse"
    assert paired_verdict([True, False], [False, True])["verdict"] == "no_significant_difference"


def test_image_tokens_are_gemini_s_documented_figure():
    assert image_tokens(384, 300) == 258
    assert image_tokens(1600, 900) == 258 * 3 * 2
    assert image_tokens(1773, 1442) == 258 * 3 * 2
