"""Tesseract processes are bounded to the cores: several readings at once, primary and second
readings alike, never have more tesseract processes running than MAX_TESSERACT_PROCESSES.
Real reader, real Tesseract; pytesseract's process launcher is wrapped to count those in flight."""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor

import pytesseract
import pytest

from shared.llm.ocr import processes
from shared.llm.ocr.reader import ALTERNATE_PASSES, TESSERACT_PASSES, read_form
from shared.synthetic import Degradation, generate_form

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")


class InFlight:
    """Counts tesseract processes between their launch and their exit; keeps the maximum."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.launched = 0

    def wrap(self, launch):
        def counted(*args, **kwargs):
            with self._lock:
                self.now += 1
                self.launched += 1
                self.most = max(self.most, self.now)
            try:
                return launch(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return counted


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> InFlight:
    counter = InFlight()
    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", counter.wrap(pytesseract.pytesseract.run_tesseract))
    return counter


def test_the_bound_is_the_usable_cores():
    assert processes.MAX_TESSERACT_PROCESSES == processes.usable_cores() >= 1


def test_three_extractions_with_their_second_readings_never_run_more_tesseracts_than_cores(in_flight):
    # Arrange: blurred forms, so readings go through several passes; three requests at once,
    # each a primary and a second reading side by side (six readings, as the pipeline runs them)
    images = [generate_form(seed, degradation=Degradation(blur_sigma=1.5)).image for seed in (31, 32, 33)]
    jobs = [(image, passes) for image in images for passes in (TESSERACT_PASSES, ALTERNATE_PASSES)]

    # Act
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        readings = list(pool.map(lambda job: read_form(job[0], passes=job[1]), jobs))

    # Assert
    assert len(readings) == 6 and in_flight.launched >= 6
    assert in_flight.most <= processes.MAX_TESSERACT_PROCESSES


def test_with_one_slot_the_two_readings_of_an_extraction_take_turns(in_flight, monkeypatch):
    # Arrange
    monkeypatch.setattr(processes, "_slots", threading.BoundedSemaphore(1))
    image = generate_form(34, degradation=Degradation(blur_sigma=1.5)).image

    # Act
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda passes: read_form(image, passes=passes), (TESSERACT_PASSES, ALTERNATE_PASSES)))

    # Assert
    assert in_flight.launched >= 2
    assert in_flight.most == 1
