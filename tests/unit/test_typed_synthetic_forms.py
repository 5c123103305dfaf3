"""Synthetic papers of every built-in form type (`render_form`) and counts in words: the truth
each paper carries, its arithmetic (holding, or failing the rule asked for), words that differ
from figures, and speed. No Tesseract needed."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.checks import check_rules, compare_figures_and_words
from shared.form_types.words import parse_number_words
from shared.synthetic import Degradation, generate_form, number_to_words, render_form

TYPED = ("ng_ec8a", "bo_acta", "ke_34a")
ALL_RULES = [(name, spec.id) for name, form in BUILTIN_FORM_TYPES.items() for spec in form.rules]


def failing(name: str, truth) -> list[str]:  # noqa: ANN001 - a VoteExtraction
    return [c.rule for c in check_rules(BUILTIN_FORM_TYPES[name], truth) if c.status == "fail"]


@pytest.mark.parametrize("name", TYPED)
@pytest.mark.parametrize("seed", range(6))
def test_a_clean_paper_carries_its_types_statistics_and_its_arithmetic_holds(name: str, seed: int) -> None:
    # Arrange
    form_type = BUILTIN_FORM_TYPES[name]

    # Act
    paper = render_form(name, seed=seed)

    # Assert
    truth = paper.truth
    assert paper.form_type == truth.form.form_type == f"{name}@1"
    assert list(truth.statistics) == form_type.keys
    assert all(isinstance(v, int) for v in truth.statistics.values())
    assert truth.ballot_stats.model_dump() == {"valid_votes": None, "rejected_ballots": None, "total_ballots": None}
    assert all(c.status == "pass" for c in check_rules(form_type, truth)), failing(name, truth)
    assert Image.open(io.BytesIO(paper.image)).format == "PNG"


@pytest.mark.parametrize("name", TYPED)
def test_same_seed_same_paper_and_other_seed_another(name: str) -> None:
    # Act
    first, again, other = render_form(name, seed=4), render_form(name, seed=4), render_form(name, seed=5)

    # Assert
    assert first.image == again.image and first.truth == again.truth
    assert other.image != first.image


def test_ec8a_rows_are_party_acronyms_mostly_blank_with_words_that_state_their_figures() -> None:
    # Act
    papers = [render_form("ng_ec8a", seed=seed) for seed in range(10)]

    # Assert
    for paper in papers:
        rows = paper.truth.vote_results
        assert [r.candidate_name for r in rows[:6]] == ["A", "AA", "AAC", "ADC", "ADP", "APC"]
        assert all(r.party == r.candidate_name for r in rows)
        blank = [r for r in rows if r.vote_count is None]
        assert len(blank) > len(rows) / 2
        assert all(r.vote_count_words is None for r in blank)
        for row in rows:
            if row.vote_count is not None:
                assert parse_number_words(row.vote_count_words, "en") == row.vote_count
        assert compare_figures_and_words(BUILTIN_FORM_TYPES["ng_ec8a"], paper.truth).differing == ()
    words = [r.vote_count_words for p in papers for r in p.truth.vote_results if r.vote_count_words]
    assert "NIL" in words
    assert any(" HUNDRED AND " in w for w in words)


def test_types_without_words_have_none() -> None:
    # Act
    rows = [r for name in ("bo_acta", "ke_34a") for r in render_form(name, seed=1).truth.vote_results]

    # Assert
    assert rows and all(r.vote_count_words is None and r.vote_count is not None for r in rows)


@pytest.mark.parametrize(("name", "rule"), ALL_RULES)
def test_a_paper_can_break_any_rule_of_its_type(name: str, rule: str) -> None:
    # Act
    paper = render_form(name, seed=2, breaks_rule=rule)

    # Assert
    assert paper.breaks_rule == rule
    assert rule in failing(name, paper.truth)
    assert paper.image != render_form(name, seed=2).image


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ng_ec8a", "not_over_voted"),
        ("ng_ec8a", "used_is_spoiled_rejected_valid"),
        ("ng_ec8a", "valid_is_sum_of_votes"),
        ("bo_acta", "box_is_valid_blank_null"),
        ("ke_34a", "valid_is_sum_of_votes"),
        ("generic", "total_is_valid_plus_rejected"),
        ("generic", "valid_is_sum_of_votes"),
    ],
)
def test_a_broken_paper_breaks_only_the_rule_asked_for(name: str, rule: str) -> None:
    # Act
    paper = render_form(name, seed=3, breaks_rule=rule)

    # Assert
    assert failing(name, paper.truth) == [rule]


def test_a_words_mismatch_shows_on_one_row_of_ec8a() -> None:
    # Act
    paper = render_form("ng_ec8a", seed=6, words_mismatch=True)

    # Assert
    comparison = compare_figures_and_words(BUILTIN_FORM_TYPES["ng_ec8a"], paper.truth)
    assert len(comparison.differing) == 1
    assert comparison.differing[0].startswith(f"{paper.words_mismatch_row}: figures ")


def test_bad_asks_are_refused_with_what_is_wrong() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="no words column"):
        render_form("bo_acta", words_mismatch=True)
    with pytest.raises(ValueError, match="has no rule 'nope'"):
        render_form("ke_34a", breaks_rule="nope")
    with pytest.raises(ValueError, match="built-in form types"):
        render_form("us_county")


def test_generic_is_the_existing_generator_with_statistics_mirroring_ballot_stats() -> None:
    # Arrange
    degradation = Degradation(rotation_deg=1.5)

    # Act
    paper = render_form("generic", seed=21, degradation=degradation)
    existing = generate_form(21, degradation=degradation)

    # Assert
    assert paper.image == existing.image
    assert paper.truth.ballot_stats == existing.truth.ballot_stats
    assert paper.truth.vote_results == existing.truth.vote_results
    assert paper.truth.statistics == existing.truth.ballot_stats.model_dump()
    assert paper.form_type == "generic@1"


@pytest.mark.parametrize("name", ["generic", *TYPED])
def test_one_paper_renders_well_under_a_second(name: str) -> None:
    # Arrange
    render_form(name, seed=0)  # fonts loaded once per process

    # Act
    started = time.process_time()  # CPU time: the machine is shared
    for seed in range(1, 6):
        render_form(name, seed=seed, degradation=Degradation(rotation_deg=1.0, jpeg_quality=85))
    each = (time.process_time() - started) / 5

    # Assert
    assert each < 0.5, f"{name}: {each:.2f} s per paper"


@pytest.mark.parametrize("language", ["en", "es"])
def test_number_to_words_reads_back_as_the_same_number(language: str) -> None:
    # Arrange
    numbers = [*range(0, 1200), 1999, 2001, 21_000, 100_000, 121_345, 999_999]

    # Act
    wrong = [
        (n, number_to_words(n, language))
        for n in numbers
        if parse_number_words(number_to_words(n, language), language) != n
    ]

    # Assert
    assert wrong == []


def test_number_to_words_as_clerks_write_them() -> None:
    # Act / Assert
    assert number_to_words(203).upper() == "TWO HUNDRED AND THREE"
    assert number_to_words(1005) == "one thousand and five"
    assert number_to_words(1241, "es") == "mil doscientos cuarenta y uno"
    assert number_to_words(100, "es") == "cien"
    assert number_to_words(116, "es") == "ciento dieciséis"
    with pytest.raises(ValueError, match="English .* or Spanish"):
        number_to_words(3, "fr")


@pytest.mark.parametrize("name", TYPED)
def test_the_demo_dataset_of_a_type_names_it_and_carries_only_its_statistics(name: str) -> None:
    # Arrange
    from infra.local.seed_dataset import TYPED_DATASETS, typed_entries

    # Act
    entries = typed_entries(name)

    # Assert
    assert len(entries) == 6
    for entry in entries:
        expected = entry["expected_output"]
        assert expected["form"]["form_type"] == f"{name}@1"
        assert set(expected["statistics"]) == set(BUILTIN_FORM_TYPES[name].keys)
        assert "ballot_stats" not in expected
    broken = [e for e in entries if e["tags"].get("breaks_rule")]
    assert [e["tags"]["breaks_rule"] for e in broken] == [TYPED_DATASETS[name][1]]
