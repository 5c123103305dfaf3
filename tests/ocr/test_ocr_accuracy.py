"""The offline OCR model with real Tesseract on generated forms: accuracy targets and switches.

Runs about a minute on two cores (forms are read by two worker processes).
"""

from __future__ import annotations

import shutil

import pytest

from bench.ocr_accuracy import Condition, ConditionResult, run
from shared.llm.ocr.reader import read_form
from shared.synthetic import DEVELOPMENT_LAYOUTS, HOLDOUT_LAYOUTS, Degradation

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")

FORMS = 20
SEED = 7000
ROTATED = Degradation(rotation_deg=3.0)

CONDITIONS = {
    "clean": Condition("clean", DEVELOPMENT_LAYOUTS, Degradation()),
    "rotated": Condition("rotation 3", DEVELOPMENT_LAYOUTS, ROTATED),
    "blurred": Condition("blur 1.5", DEVELOPMENT_LAYOUTS, Degradation(blur_sigma=1.5)),
    "holdout": Condition("holdout clean", HOLDOUT_LAYOUTS, Degradation()),
    "holdout_degraded": Condition(
        "holdout rot 2 blur 1", HOLDOUT_LAYOUTS, Degradation(rotation_deg=2.0, blur_sigma=1.0)
    ),
    "rotated_no_deskew": Condition("rotation 3 deskew off", DEVELOPMENT_LAYOUTS, ROTATED, deskew=False),
}


@pytest.fixture(scope="module")
def results() -> dict[str, ConditionResult]:
    measured = run(list(CONDITIONS.values()), forms=FORMS, seed=SEED, workers=2)
    return dict(zip(CONDITIONS, measured, strict=True))


def share(result: ConditionResult) -> float:
    return result.correct / result.counts


@pytest.mark.parametrize("condition", ["clean", "rotated", "blurred"])
def test_development_layouts_read_at_least_98_percent_of_vote_counts(
    results: dict[str, ConditionResult], condition: str
) -> None:
    # Act
    result = results[condition]

    # Assert
    assert result.forms == FORMS
    assert share(result) >= 0.98, f"{condition}: {result.correct}/{result.counts}"


@pytest.mark.parametrize("condition", ["holdout", "holdout_degraded"])
def test_holdout_layouts_read_at_least_95_percent_of_vote_counts(
    results: dict[str, ConditionResult], condition: str
) -> None:
    # Act
    result = results[condition]

    # Assert
    assert share(result) >= 0.95, f"{condition}: {result.correct}/{result.counts}"


def test_deskew_off_is_clearly_worse_on_rotated_forms(results: dict[str, ConditionResult]) -> None:
    # Act
    with_deskew = share(results["rotated"])
    without_deskew = share(results["rotated_no_deskew"])

    # Assert
    assert without_deskew < with_deskew - 0.05, f"deskew on {with_deskew:.3f}, off {without_deskew:.3f}"


def test_undecodable_bytes_raise_a_value_error() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="could not be decoded"):
        read_form(b"not an image at all")


def test_reading_reports_the_skew_it_removed() -> None:
    # Arrange
    from shared.synthetic import generate_form

    form = generate_form(3, layout="ruled_sans", degradation=Degradation(rotation_deg=-2.5))

    # Act
    reading = read_form(form.image)

    # Assert
    assert reading.angle_deg == pytest.approx(-2.5, abs=0.15)
    assert reading.extraction.ballot_stats == form.truth.ballot_stats
