"""Where on the paper: the offline model's box for each count is where the synthetic form drew it.

Real reader, real Tesseract. `shared.synthetic` records the pixel box of every figure it draws
(`SyntheticForm.figure_boxes`, turned and scaled with the page); the reading's boxes are fractions of
the upright image (`ExtractionRecord.boxes`), so both are compared in the image's pixels.
"""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.llm.ocr.reader import ALTERNATE_PASSES, read_form
from shared.synthetic import Degradation, generate_form, render_form

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")

FORMS = [
    pytest.param(3, Degradation(), id="clean-scan"),
    pytest.param(5, Degradation(rotation_deg=2.0, scale=0.8), id="turned-2-degrees-and-smaller"),
    pytest.param(6, Degradation(rotation_deg=-3.0, jpeg_quality=80), id="turned-back-3-degrees-jpeg"),
]


def _values(truth) -> dict[str, int | None]:
    values = {f"vote_results[{i}].vote_count": row.vote_count for i, row in enumerate(truth.vote_results)}
    values.update({f"ballot_stats.{key}": value for key, value in truth.ballot_stats.model_dump().items()})
    return values


def _in_pixels(box: list[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    return box[0] * size[0], box[1] * size[1], box[2] * size[0], box[3] * size[1]


def _area(box: tuple[float, ...]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """How much of the smaller of two (left, top, right, bottom) boxes lies in the other: the drawn
    box is the font's (side bearings included), the OCR's the ink's, narrower for a lone "1"."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / min(_area(a), _area(b))


@pytest.mark.parametrize(("seed", "degradation"), FORMS)
@pytest.mark.parametrize("passes", ["primary", "alternate"])
def test_every_count_read_right_has_a_box_around_the_figure_drawn(seed, degradation, passes) -> None:
    # Arrange
    form = generate_form(seed, degradation=degradation)
    size = Image.open(io.BytesIO(form.image)).size
    truth = _values(form.truth)

    # Act
    reading = read_form(form.image, **({"passes": ALTERNATE_PASSES} if passes == "alternate" else {}))

    # Assert
    read = _values(reading.extraction)
    right = [path for path, value in truth.items() if value is not None and read.get(path) == value]
    assert len(right) >= len(truth) - 1, f"the reader itself misread this form: {read} vs {truth}"
    for path in right:
        assert path in reading.boxes, f"{path} was read right but has no box"
        found = _in_pixels(reading.boxes[path], size)
        drawn = form.figure_boxes[path]
        assert _overlap(found, drawn) >= 0.8, f"{path}: box {found} is not on the figure drawn at {drawn}"
        assert _area(found) <= 2 * _area(drawn), f"{path}: box {found} is far larger than the figure {drawn}"
        centre = ((drawn[0] + drawn[2]) / 2, (drawn[1] + drawn[3]) / 2)
        assert found[0] <= centre[0] <= found[2] and found[1] <= centre[1] <= found[3]
    assert set(reading.boxes) <= set(truth), "a box for a field the reading does not have"


def test_a_box_is_the_figure_s_own_not_a_neighbour_s() -> None:
    # Each box overlaps its own figure far more than any other figure drawn on the page.
    form = generate_form(3)
    size = Image.open(io.BytesIO(form.image)).size

    reading = read_form(form.image)

    for path, box in reading.boxes.items():
        found = _in_pixels(box, size)
        best = max(form.figure_boxes, key=lambda other: _overlap(found, form.figure_boxes[other]))
        assert best == path


def test_a_typed_paper_s_counts_have_boxes_on_the_rows_of_their_labels() -> None:
    # A typed paper (read by its printed labels) gets boxes too: one per count read, each a figure-sized
    # box within the image, and no two statistics in one place.
    form_type = BUILTIN_FORM_TYPES["ng_ec8a"]
    paper = render_form("ng_ec8a", seed=2)

    reading = read_form(paper.image, form_type=form_type)

    read = {f"statistics.{k}": v for k, v in reading.extraction.statistics.items() if v is not None}
    read.update({f"vote_results[{i}].vote_count": r.vote_count for i, r in enumerate(reading.extraction.vote_results)})
    assert set(reading.boxes) <= set(read)
    statistics = [box for path, box in reading.boxes.items() if path.startswith("statistics.")]
    assert len(statistics) >= len(read) // 3 and statistics
    for box in reading.boxes.values():
        assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
        assert box[3] - box[1] < 0.1  # a figure, not a block of the page
    tops = sorted(box[1] for box in statistics)
    assert all(later > earlier for earlier, later in zip(tops, tops[1:], strict=False))
