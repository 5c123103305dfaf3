"""The synthetic form generator: determinism, consistent truth, degradations."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.synthetic import (
    DEVELOPMENT_LAYOUTS,
    HOLDOUT_LAYOUTS,
    Degradation,
    generate_form,
    generate_forms,
)

ALL_LAYOUTS = DEVELOPMENT_LAYOUTS + HOLDOUT_LAYOUTS


@pytest.mark.parametrize("layout", ALL_LAYOUTS)
def test_same_seed_gives_same_bytes_and_truth(layout: str) -> None:
    # Arrange
    degradation = Degradation(rotation_deg=2.0, blur_sigma=1.0, noise_std=4.0)

    # Act
    first = generate_form(11, layout=layout, degradation=degradation)
    second = generate_form(11, layout=layout, degradation=degradation)

    # Assert
    assert first.image == second.image
    assert first.truth == second.truth


def test_different_seeds_give_different_forms() -> None:
    # Arrange / Act
    first = generate_form(1, layout="ruled_sans")
    second = generate_form(2, layout="ruled_sans")

    # Assert
    assert first.image != second.image
    assert first.truth != second.truth


@pytest.mark.parametrize("seed", range(12))
def test_truth_is_internally_consistent(seed: int) -> None:
    # Arrange
    layout = ALL_LAYOUTS[seed % len(ALL_LAYOUTS)]

    # Act
    truth = generate_form(seed, layout=layout).truth

    # Assert
    stats = truth.ballot_stats
    assert sum(r.vote_count or 0 for r in truth.vote_results) == stats.valid_votes
    assert (stats.valid_votes or 0) + (stats.rejected_ballots or 0) == stats.total_ballots
    assert truth.form.constituency_name and truth.form.constituency_code and truth.form.form_type
    assert len({r.candidate_name for r in truth.vote_results}) == len(truth.vote_results)


@pytest.mark.parametrize("count", [3, 7, 12])
def test_candidate_count_is_respected(count: int) -> None:
    # Act
    form = generate_form(5, layout="plain_serif", candidates=count)

    # Assert
    assert len(form.truth.vote_results) == count


def test_seeded_candidate_counts_stay_between_3_and_12() -> None:
    # Act
    counts = {len(f.truth.vote_results) for f in generate_forms(40, layouts=ALL_LAYOUTS)}

    # Assert
    assert min(counts) >= 3 and max(counts) <= 12 and len(counts) > 4


def test_candidate_count_out_of_range_is_refused() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="between 3 and 12"):
        generate_form(1, candidates=13)


def test_unknown_layout_is_refused() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="Unknown layout"):
        generate_form(1, layout="nope")


@pytest.mark.parametrize(
    "degradation",
    [
        Degradation(rotation_deg=3.0),
        Degradation(blur_sigma=1.5),
        Degradation(scale=0.8),
        Degradation(noise_std=8.0),
        Degradation(jpeg_quality=60),
    ],
)
def test_each_degradation_changes_the_image_but_not_the_truth(degradation: Degradation) -> None:
    # Arrange
    clean = generate_form(3, layout="condensed_grid")

    # Act
    degraded = generate_form(3, layout="condensed_grid", degradation=degradation)

    # Assert
    assert degraded.image != clean.image
    assert degraded.truth == clean.truth
    assert degraded.degradation == degradation


def test_jpeg_quality_gives_jpeg_bytes_and_content_type() -> None:
    # Act
    form = generate_form(4, degradation=Degradation(jpeg_quality=60))

    # Assert
    assert form.content_type == "image/jpeg"
    assert form.image[:3] == b"\xff\xd8\xff"
    assert Image.open(io.BytesIO(form.image)).format == "JPEG"


def test_clean_form_is_a_png_about_1600_to_2000_pixels_wide() -> None:
    # Act
    form = generate_form(6)

    # Assert
    image = Image.open(io.BytesIO(form.image))
    assert form.content_type == "image/png" and image.format == "PNG"
    assert 1600 <= image.width <= 2000


def test_rotation_and_scale_change_the_size() -> None:
    # Arrange
    clean = Image.open(io.BytesIO(generate_form(8, layout="mono_ledger").image))

    # Act
    rotated = Image.open(
        io.BytesIO(generate_form(8, layout="mono_ledger", degradation=Degradation(rotation_deg=3)).image)
    )
    scaled = Image.open(io.BytesIO(generate_form(8, layout="mono_ledger", degradation=Degradation(scale=0.5)).image))

    # Assert
    assert rotated.height > clean.height
    assert scaled.width == round(clean.width * 0.5)


def test_layout_is_chosen_from_the_seed_among_development_layouts() -> None:
    # Act
    layouts = {generate_form(seed).layout for seed in range(30)}

    # Assert
    assert layouts == set(DEVELOPMENT_LAYOUTS)


def test_holdout_layouts_differ_from_development_layouts() -> None:
    # Assert
    assert set(HOLDOUT_LAYOUTS).isdisjoint(DEVELOPMENT_LAYOUTS)
    assert len(HOLDOUT_LAYOUTS) >= 3


def test_generate_forms_uses_consecutive_seeds_and_rotates_layouts() -> None:
    # Act
    forms = generate_forms(4, start_seed=10, layouts=["ruled_sans", "narrow_combined"])

    # Assert
    assert [f.seed for f in forms] == [10, 11, 12, 13]
    assert [f.layout for f in forms] == ["ruled_sans", "narrow_combined", "ruled_sans", "narrow_combined"]
    assert forms[2].image == generate_form(12, layout="ruled_sans").image


def test_a_table_wider_than_the_page_widens_the_page_instead_of_failing():
    # These seeds draw long names in a large monospace font (they used to raise ValueError).
    for seed in (42, 276, 401):
        form = generate_form(seed)
        assert form.image and form.truth.vote_results
