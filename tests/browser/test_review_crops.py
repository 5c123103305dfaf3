"""Where on the paper, in a real browser: the Review Queue shows each disagreeing count's crop of
the form beside both readings.

A gateway process with the cross check on, over the real emulators; Gemini is the local stand-in
for its generateContent REST API (no Gemini is reachable here). It answers a deliberate misread
that adds up (the first two counts swapped), with a `box_2d` for the first row only, where the
synthetic form drew that figure; Tesseract's second reading disagrees on both rows and brings its
own box for the second. The page must crop the form at each.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, expect

from shared.synthetic.forms import generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots, start_console_for
from tests.browser.streamlit_page import choose, no_traceback, open_page, page_text, wait_idle

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from field_crops import crop  # noqa: E402

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}


def _gemini_box(drawn: tuple[int, int, int, int], size: tuple[int, int]) -> list[int]:
    """A pixel box as Gemini writes one: [ymin, xmin, ymax, xmax] on 0-1000."""
    x0, y0, x1, y1 = drawn
    return [
        round(y0 / size[1] * 1000),
        round(x0 / size[0] * 1000),
        round(y1 / size[1] * 1000),
        round(x1 / size[0] * 1000),
    ]


def _shown_images(page: Any, console_url: str) -> dict[str, Image.Image]:
    """Every st.image on the page with a caption "On the paper: ...", by caption, as served."""
    shown: dict[str, Image.Image] = {}
    for figure in page.locator('[data-testid="stImageContainer"]').all():
        caption = figure.locator('[data-testid="stImageCaption"]')
        if caption.count() == 0 or not caption.inner_text().startswith("On the paper"):
            continue
        source = figure.locator("img").get_attribute("src")
        served = requests.get(source if source.startswith("http") else console_url + source, timeout=30)
        shown[caption.inner_text()] = Image.open(io.BytesIO(served.content)).convert("L")
    return shown


def test_each_disagreeing_count_is_shown_cropped_from_the_form_beside_both_readings(
    browser: Browser, local_stack: Any, tmp_path: Path, screenshots: Screenshots
) -> None:
    from tests.fakes.gemini_server import FakeGeminiServer, text_reply
    from tests.integration.processes import start_gateway

    form = generate_form(21)
    size = Image.open(io.BytesIO(form.image)).size
    misread = form.truth.model_dump()
    first, second = misread["vote_results"][0], misread["vote_results"][1]
    first["vote_count"], second["vote_count"] = second["vote_count"], first["vote_count"]
    first["vote_count_box_2d"] = _gemini_box(form.figure_boxes["vote_results[0].vote_count"], size)
    gemini = FakeGeminiServer(api_key="browser-gemini-key").start()
    gateway, gateway_url = start_gateway(
        tmp_path,
        GEMINI_API_KEY="browser-gemini-key",
        GEMINI_BASE_URL=gemini.base_url,
        CROSS_CHECK="on",
        CROSS_CHECK_READER="",
    )
    console = start_console_for(gateway_url, tmp_path)
    try:
        for _ in range(3):  # a 503 says "try again shortly": a cold emulator's first write, on a loaded machine
            gemini.enqueue(text_reply(json.dumps(misread)))
            posted = requests.post(
                f"{gateway_url}/extract",
                headers=HEADERS,
                files={"image": ("f.png", form.image, "image/png")},
                data={"model": "gemini-2.5-flash"},
                timeout=120,
            )
            if posted.status_code != 503:
                break
            gemini.reset()
        assert posted.status_code == 200, posted.text
        record = posted.json()
        boxes = record["boxes"]
        assert {"vote_results[0].vote_count", "vote_results[1].vote_count"} <= set(boxes), boxes

        reviewer = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 1000}).new_page()
        open_page(reviewer, "/Review_Queue", "🧑‍⚖️ Review Queue")
        reviewer.get_by_label("Your name (recorded with every decision)").fill("ada")
        reviewer.keyboard.press("Enter")
        wait_idle(reviewer)
        choose(reviewer, "Or a pending item", record["extraction_id"])
        reviewer.get_by_role("button", name="Claim this item").click()
        expect(reviewer.get_by_text(f"Reviewing {record['extraction_id']}")).to_be_visible(timeout=30_000)
        heading = reviewer.get_by_text("Where on the paper: each disagreeing count")
        expect(heading).to_be_visible(timeout=30_000)
        wait_idle(reviewer)

        # Both readings beside each crop.
        text = page_text(reviewer)
        for row, primary, other in (
            (first, first["vote_count"], second["vote_count"]),
            (second, second["vote_count"], first["vote_count"]),
        ):
            assert f"this extraction: {primary:,} · second reading: {other:,}" in text, text
            caption = reviewer.get_by_text(f"On the paper: {row['candidate_name']}'s votes", exact=True)
            expect(caption).to_be_visible()
        assert "No crop for" not in text

        # Each crop is the form at its count's box: the page shows what cropping the stored image gives.
        shown = _shown_images(reviewer, console.url)
        for index, row in enumerate((first, second)):
            want = Image.open(io.BytesIO(crop(form.image, boxes[f"vote_results[{index}].vote_count"]))).convert("L")
            got = shown[f"On the paper: {row['candidate_name']}'s votes"]
            assert got.size == want.size
            assert np.abs(np.asarray(got, dtype=int) - np.asarray(want, dtype=int)).mean() < 2

        reviewer.get_by_text(f"On the paper: {second['candidate_name']}'s votes").scroll_into_view_if_needed()
        screenshots.take(reviewer, "review-queue-crops")
        no_traceback(reviewer)
    finally:
        console.stop()
        gateway.stop()
        gemini.stop()
