"""A 12 MP phone photo through POST /extract with the cross check on: read at the reduced size,
right, and its two readings' tesseract processes kept within the bound.

Over the real emulators with real Tesseract. The bound is set to one process for the test, so a
second reading that ran beside the primary one without waiting for a slot would show as two."""

from __future__ import annotations

import io
import threading

import pytesseract
import pytest

from bench.photo_extract import make_photo
from shared.evaluation.matching import compare_extractions
from shared.llm.ocr import processes
from shared.models import VoteExtraction
from tests.conftest import TEST_API_KEY
from tests.ocr.test_tesseract_processes import InFlight

HEADERS = {"X-API-Key": TEST_API_KEY}


@pytest.mark.integration
def test_a_12_mp_photo_is_read_right_with_its_cross_check_one_tesseract_at_a_time(
    extract_client, configure, monkeypatch
):
    # Arrange
    configure(CROSS_CHECK="on", CROSS_CHECK_SAMPLE_RATE="1", CROSS_CHECK_READER="", GEMINI_API_KEY="")
    in_flight = InFlight()
    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", in_flight.wrap(pytesseract.pytesseract.run_tesseract))
    monkeypatch.setattr(processes, "_slots", threading.BoundedSemaphore(1))
    photo = make_photo((3024, 4032))

    # Act
    response = extract_client.post(
        "/",
        data={"image": (io.BytesIO(photo.image), "photo.jpg", "image/jpeg"), "model": "tesseract"},
        headers=HEADERS,
        content_type="multipart/form-data",
    )

    # Assert
    assert response.status_code == 200, response.json
    body = response.json
    correct, total = compare_extractions(
        VoteExtraction.model_validate(body["result"]), photo.truth, fuzzy_names=False
    ).vote_counts()
    assert correct == total
    [cross] = [e for e in body["evaluations"] if e["label"] == "cross_check"]
    assert cross["details"]["reader"] == "tesseract-alternate"
    assert in_flight.launched >= 2
    assert in_flight.most == 1
