"""Tesseract runs, bounded: at most one process per usable core in this process, whoever asks.

Each Tesseract run is one single-threaded process (OMP_THREAD_LIMIT=1). A primary reading and
the cross check's second reading run their passes side by side, and an instance may serve
several requests at once; unbounded, they start more processes than there are cores, which
only slow each other down and add up their memory. One process-wide semaphore makes the extra
runs wait their turn instead.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from PIL import Image


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


MAX_TESSERACT_PROCESSES = usable_cores()
_slots = threading.BoundedSemaphore(MAX_TESSERACT_PROCESSES)


def _fresh_slots_in_child() -> None:
    # A forked child has none of its parent's other threads, so slots they held would never return.
    global _slots
    _slots = threading.BoundedSemaphore(MAX_TESSERACT_PROCESSES)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_slots_in_child)


def tesseract_words(page: np.ndarray, *, config: str) -> dict[str, list[Any]]:
    """Tesseract's word boxes for a grayscale page (pytesseract's image_to_data as a dict),
    run once a process slot is free."""
    import pytesseract  # heavy and only needed here

    # pytesseract hands os.environ to the tesseract subprocess; one OpenMP thread per process is
    # much faster when forms are read in parallel, and no slower for one form on a small machine.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    image = Image.fromarray(page)
    # pytesseract hands Tesseract a temporary file in the image's format, PNG by default; its
    # compression cost 0.1-0.25 s a pass on a 2200 px page, the uncompressed PGM next to nothing,
    # and Tesseract reads the same pixels.
    image.format = "PPM"
    with _slots:
        return pytesseract.image_to_data(image, config=config, output_type=pytesseract.Output.DICT)
