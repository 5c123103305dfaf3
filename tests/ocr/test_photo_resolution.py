"""Photos are read at the resolution the reader needs: a 12 MP photo smaller, a small one larger,
a scan-sized form as it is. Real reader, real Tesseract; the pages Tesseract is handed are recorded."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import numpy as np
import pytest

from bench.photo_extract import make_photo
from shared.evaluation.matching import compare_extractions
from shared.llm.ocr import preprocess, processes
from shared.llm.ocr.reader import ALTERNATE_PASSES, read_form
from shared.synthetic import generate_form

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


@pytest.fixture
def pages_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """The (height, width) of every page handed to Tesseract."""
    shapes: list[tuple[int, int]] = []
    real = processes.tesseract_words

    def recording(page: np.ndarray, *, config: str):
        shapes.append(page.shape)
        return real(page, config=config)

    monkeypatch.setattr(processes, "tesseract_words", recording)
    yield shapes


def test_a_12_mp_photo_is_read_at_the_reduced_size_and_read_right(pages_read):
    # Arrange
    photo = make_photo((3024, 4032))

    # Act
    reading = read_form(photo.image)

    # Assert
    first_pass = pages_read[0]
    assert preprocess.READ_LONG_SIDE <= max(first_pass) <= preprocess.READ_LONG_SIDE * 1.05  # + the deskewed canvas
    assert all(max(shape) <= preprocess.MAX_ENLARGED_LONG_SIDE for shape in pages_read)
    correct, total = compare_extractions(reading.extraction, photo.truth, fuzzy_names=False).vote_counts()
    assert correct == total


def test_every_pass_of_the_second_reading_stays_within_the_enlarged_bound(pages_read):
    # Arrange
    photo = make_photo((3024, 4032))

    # Act
    read_form(photo.image, passes=ALTERNATE_PASSES)

    # Assert
    assert pages_read
    assert all(max(shape) <= preprocess.MAX_ENLARGED_LONG_SIDE for shape in pages_read)


def test_a_small_photo_is_enlarged_only_to_the_width_its_text_needs():
    # Arrange
    small = np.full((720, 540), 255, dtype=np.uint8)

    # Act
    fitted = preprocess.fit_resolution(small)

    # Assert
    assert fitted.shape == (2133, 1600)


def test_no_pass_on_a_small_photo_reads_a_page_past_the_enlarged_bound(pages_read):
    # Arrange
    photo = make_photo((540, 720))

    # Act
    read_form(photo.image)
    read_form(photo.image, passes=ALTERNATE_PASSES)

    # Assert: read at the 1600 px width it was enlarged to (+ the deskewed canvas); before, the
    # upscale, the blur restoration and the enlarged pass multiplied to 3600x4800
    first_width = pages_read[0][1]
    assert 1600 <= first_width <= 1600 * 1.05
    assert all(max(shape) <= preprocess.MAX_ENLARGED_LONG_SIDE for shape in pages_read)


def test_a_scan_sized_form_is_read_at_its_own_size(pages_read):
    # Arrange
    form = generate_form(11)
    decoded = preprocess.decode_gray(form.image)

    # Act
    read_form(form.image, deskew=False)

    # Assert
    assert pages_read[0] == decoded.shape


def test_a_big_jpeg_is_decoded_at_a_reduced_scale():
    # Arrange
    photo = make_photo((4000, 6000))

    # Act
    full = preprocess.decode_gray(photo.image)
    reduced = preprocess.decode_gray(photo.image, max_long_side=preprocess.READ_LONG_SIDE)

    # Assert: libjpeg's 1/2 scale is the smallest that still reaches the long side
    assert full.shape == (6000, 4000)
    assert reduced.shape == (3000, 2000)
