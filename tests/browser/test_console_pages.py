"""Every console page renders against the seeded demo, in a cold browser context, without errors.

The seconds to the first complete render of each page are written to first-render.json in the
test's output folder (and printed with -s); the issue's target is 2 s, reported in the notes,
and this test only fails on a render that never finishes or one that is slower than 10 s.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import Screenshots
from tests.browser.streamlit_page import no_traceback, open_page

pytestmark = pytest.mark.integration

PAGES = (
    ("/", "🏠 vote-extractor console", "console-home", "Datasets"),
    ("/Vote_Extractor", "🗳️ Vote Extractor", "vote-extractor-start", "Sample form seed"),
    ("/Review_Queue", "🧑‍⚖️ Review Queue", "review-queue-start", "thumbs down"),
    ("/Dataset_Manager", "📊 Dataset Manager", "dataset-manager-start", "demo_forms"),
    # The listing, with or without experiments (this test may run before any other started one).
    ("/Experiments", "🧪 Experiments", "experiments-start", re.compile("^(Open an experiment|No experiment matches)")),
)


def test_every_page_renders_the_demo(browser: Browser, base_url: str, screenshots: Screenshots) -> None:
    first_render = {}
    for path, title, shot, expected_text in PAGES:
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        first_render[path] = round(open_page(page, path, title), 2)
        shown = page.get_by_text(expected_text) if isinstance(expected_text, re.Pattern) else None
        expect((shown or page.get_by_text(expected_text, exact=True)).first).to_be_visible()
        no_traceback(page)
        screenshots.take(page, shot, for_readme=path == "/")
        context.close()
    (screenshots.folder / "first-render.json").write_text(json.dumps(first_render, indent=2))
    print("first render (s):", first_render)
    assert all(seconds < 10 for seconds in first_render.values()), first_render
