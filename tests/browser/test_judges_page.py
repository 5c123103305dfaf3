"""The Judges page in a real browser: stored judges and their versions, an alignment started from
the page, and its before/after (agreement, kappa, the paired verdict) shown as the API stored it.

Debian's Chromium drives a console (a Streamlit process) against a gateway process over the real
emulators. The gateway's Gemini is the local Gemini stand-in (`tests/fakes/gemini_server.py`, a
local HTTP server speaking Gemini's REST API): it reads the forms and plays a judge that agrees
with reviewers once its prompt carries their examples.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Page, expect

from shared.synthetic.forms import generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots, start_console_for
from tests.browser.streamlit_page import choose, no_traceback, wait_idle
from tests.fakes.gemini_server import SAMPLE_EXTRACTION, FakeGeminiServer, extraction_reply, text_reply

pytestmark = pytest.mark.integration
HEADERS = {"X-API-Key": CONSOLE_API_KEY}
GEMINI_KEY = "browser-gemini-key"
RUBRIC = "The extraction reads every figure on the paper correctly (browser judge)."
DECISIONS = 20


def respond(request):
    prompt = "\n".join(request.texts)
    if RUBRIC not in prompt:
        return extraction_reply(SAMPLE_EXTRACTION)
    found = re.search(r"Ward \d+ (right|wrong)", prompt.rpartition("Model output:")[2])
    people_say = found is None or found.group(1) == "right"
    value = people_say if "Examples of reviewers' verdicts" in prompt else not people_say
    return text_reply(json.dumps({"reasoning": "checked", "value": value}), prompt_tokens=700, output_tokens=20)


@pytest.fixture(scope="session")
def judges_api(local_stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeGeminiServer]]:
    from tests.integration.processes import start_gateway

    gemini = FakeGeminiServer(api_key=GEMINI_KEY).start()
    gemini.set_responder(respond)
    process, url = start_gateway(
        tmp_path_factory.mktemp("judges-gateway"),
        DEFAULT_MODEL="tesseract",
        GEMINI_API_KEY=GEMINI_KEY,
        GEMINI_BASE_URL=gemini.base_url,
        ONLINE_JUDGES="",
    )
    yield url, gemini
    process.stop()
    gemini.stop()


@pytest.fixture(scope="session")
def judges_console(judges_api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = start_console_for(judges_api[0], tmp_path_factory.mktemp("judges-console"))
    yield process.url
    process.stop()


@pytest.fixture(scope="module", autouse=True)
def demo_restored(api_url: str) -> Iterator[None]:
    """These tests wipe the session's Firestore (`clean_firestore`), which the other pages' tests share
    through the session's gateway: the demo is seeded again after them, as `demo_seeded` made it."""
    yield
    from infra.local.seed_dataset import seed, seed_schedule, seed_traffic

    seed(api_url, CONSOLE_API_KEY, 24)
    seed_schedule(api_url, CONSOLE_API_KEY)
    seed_traffic(api_url, CONSOLE_API_KEY)


def reviewed_traffic(api: str, gemini: FakeGeminiServer) -> None:
    """Extractions decided by a reviewer: the right ones approved, the wrong ones rejected."""
    image = generate_form(980).image
    target = f"judged_{uuid.uuid4().hex[:8]}"
    made = requests.post(f"{api}/datasets", json={"name": target, "version": "v1"}, headers=HEADERS, timeout=30)
    assert made.status_code == 201, made.text
    for i in range(DECISIONS):
        right = i % 2 == 0
        output = copy.deepcopy(SAMPLE_EXTRACTION)
        output["form"]["constituency_name"] = f"Ward {i} {'right' if right else 'wrong'}"
        output["ballot_stats"]["valid_votes"] = 9_000 + i  # counts that do not add up: queued for review
        gemini.enqueue(extraction_reply(output))
        extracted = requests.post(
            f"{api}/extract",
            files={"image": ("f.png", image, "image/png")},
            data={"model": "gemini-2.5-flash"},
            headers=HEADERS,
            timeout=60,
        )
        assert extracted.status_code == 200, extracted.text
        extraction_id = extracted.json()["extraction_id"]
        claim = {"reviewer": "ada", "extraction_id": extraction_id}
        claimed = requests.post(f"{api}/datasets/review/claim", json=claim, headers=HEADERS, timeout=30)
        assert claimed.status_code == 200, claimed.text
        decision = (
            {"reviewer": "ada", "decision": "approve", "target": {"name": target, "version": "v1"}}
            if right
            else {"reviewer": "ada", "decision": "reject", "note": "Valid votes misread."}
        )
        decided = requests.post(
            f"{api}/datasets/review/{extraction_id}/decision", json=decision, headers=HEADERS, timeout=30
        )
        assert decided.status_code == 200, decided.text


def test_a_judge_is_aligned_from_the_page_and_its_before_and_after_shown(
    clean_firestore, judges_api, judges_console: str, page: Page, screenshots: Screenshots
) -> None:
    api, gemini = judges_api
    reviewed_traffic(api, gemini)
    name = f"page-{uuid.uuid4().hex[:6]}"
    created = requests.post(
        f"{api}/experiments/judges",
        json={"name": name, "rubric": RUBRIC, "output": "boolean"},
        headers=HEADERS,
        timeout=30,
    )
    assert created.status_code == 201, created.text

    page.goto(f"{judges_console}/Judges")  # its own console: the session's base URL is another's
    expect(page.get_by_role("heading", name="⚖️ Judges")).to_be_visible(timeout=30_000)
    wait_idle(page)
    choose(page, "Judge", name)
    expect(page.get_by_text(f"{name}@1", exact=True)).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Align with reviewers' decisions").click()
    wait_idle(page)
    expect(page.get_by_text(f"Made {name}@2 from the reviewers' decisions.")).to_be_visible(timeout=60_000)

    stored = requests.get(f"{api}/experiments/judges/{name}/2/alignment", headers=HEADERS, timeout=30).json()
    holdout = stored["holdout"]
    assert holdout["n"] >= 1 and holdout["new"]["agreement"] == 1.0 and holdout["old"]["agreement"] == 0.0
    expect(page.get_by_text("Alignment: version 1 → 2")).to_be_visible()
    expect(page.get_by_text(f"{holdout['n']} held-out decisions")).to_be_visible()
    expect(page.get_by_text("p = ")).to_be_visible()
    screenshots.take(page, "judges-aligned", full_page=True)
    no_traceback(page)


def test_the_judges_page_says_when_there_is_no_judge(clean_firestore, judges_console: str, page: Page) -> None:
    page.goto(f"{judges_console}/Judges")  # its own console: the session's base URL is another's
    expect(page.get_by_role("heading", name="⚖️ Judges")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("No stored judge yet")).to_be_visible(timeout=30_000)
    no_traceback(page)
