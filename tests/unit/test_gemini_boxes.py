"""Gemini's boxes: asked for in the response schema, read back out of its answer, stored converted.

Gemini cannot be reached from here: `tests.fakes.gemini_server` is a local HTTP server standing in
for Gemini's generateContent REST API. The adapter talks to it with google-genai's own client
(sync calls) and with the lean REST path (async calls), so the answer is read as it comes off the
wire. Gemini's convention is `box_2d`, [ymin, xmin, ymax, xmax] scaled to 0-1000 of the image
sent; we store [x0, y0, x1, y1] as fractions of the image (`shared.models.FieldBoxes`).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from shared.config import Settings
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.checks import shaped
from shared.form_types.model import FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.llm.base import ModelRequest
from shared.llm.gemini import GeminiModel
from shared.models import VoteExtraction
from shared.prompts import builtin_prompt
from tests.fakes.gemini_server import FakeGeminiServer, text_reply

API_KEY = "test-gemini-key-boxes"
MODEL = "gemini-2.5-flash"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(32))

ANSWER: dict[str, Any] = {
    "form": {"constituency_name": "Kibera", "constituency_code": "274", "form_type": "Form 35A"},
    "vote_results": [
        {
            "candidate_name": "Amina Njeri",
            "party": "ODM",
            "vote_count": 4521,
            "vote_count_box_2d": [310, 620, 340, 700],
        },
        {"candidate_name": "Peter Otieno", "party": "UDA", "vote_count": 3819, "vote_count_box_2d": None},
        {"candidate_name": "Grace Wanjiru", "party": None, "vote_count": 0, "vote_count_box_2d": [400, 640, 430, 660]},
    ],
    "ballot_stats": {"valid_votes": 8340, "rejected_ballots": 37, "total_ballots": 8377},
    "statistics_box_2d": {
        "valid_votes": [500, 600, 530, 700],
        "rejected_ballots": None,
        "total_ballots": [560, 600, 590, 700],
    },
}


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def server(running_server: FakeGeminiServer) -> Iterator[FakeGeminiServer]:
    running_server.reset()
    yield running_server
    running_server.reset()


def _model(server: FakeGeminiServer) -> GeminiModel:
    settings = Settings(
        gemini_api_key=API_KEY,
        gemini_use_vertex=False,
        gemini_base_url=server.base_url,
        gemini_timeout_s=5.0,
        gemini_retry_attempts=1,
    )
    return GeminiModel(MODEL, settings=settings)


def _read(server: FakeGeminiServer, answer: Any, path: str, form_type: FormType = GENERIC_FORM_TYPE):
    server.enqueue(text_reply(answer if isinstance(answer, str) else json.dumps(answer)))
    request = ModelRequest(
        image=PNG_BYTES, content_type="image/png", prompt=builtin_prompt("prompt_a"), form_type=form_type
    )
    model = _model(server)
    return model.extract(request) if path == "sync" else asyncio.run(model.extract_async(request))


def _without_boxes(answer: dict[str, Any]) -> dict[str, Any]:
    plain = copy.deepcopy(answer)
    plain.pop("statistics_box_2d", None)
    for row in plain["vote_results"]:
        row.pop("vote_count_box_2d", None)
    return plain


@pytest.mark.parametrize("path", ["sync", "async"])
def test_gemini_s_boxes_are_taken_out_of_the_answer_and_stored_as_fractions_x0_y0_x1_y1(server, path) -> None:
    response = _read(server, ANSWER, path)

    assert response.boxes == {
        "vote_results[0].vote_count": [0.62, 0.31, 0.7, 0.34],
        "vote_results[2].vote_count": [0.64, 0.4, 0.66, 0.43],
        "ballot_stats.valid_votes": [0.6, 0.5, 0.7, 0.53],
        "ballot_stats.total_ballots": [0.6, 0.56, 0.7, 0.59],
    }
    # The extraction is the answer without its boxes, exactly as before boxes were asked for.
    expected = shaped(VoteExtraction.model_validate(_without_boxes(ANSWER)), GENERIC_FORM_TYPE)
    assert response.extraction == expected
    assert json.loads(response.raw_output) == ANSWER  # the raw answer is kept as Gemini wrote it


@pytest.mark.parametrize("path", ["sync", "async"])
def test_a_malformed_box_is_dropped_and_never_costs_the_reading(server, path) -> None:
    answer = copy.deepcopy(ANSWER)
    answer["vote_results"][0]["vote_count_box_2d"] = [340, 700, 310, 620]  # min after max
    answer["vote_results"][2]["vote_count_box_2d"] = [400, 640, 1430, 660]  # beyond 1000
    answer["statistics_box_2d"]["valid_votes"] = [500, 600, 530]  # three numbers
    answer["statistics_box_2d"]["registered_voters"] = [1, 2, 3, 4]  # a statistic this paper does not have

    response = _read(server, answer, path)

    assert set(response.boxes) == {"ballot_stats.total_ballots"}
    assert response.extraction.vote_results[0].vote_count == 4521


def test_an_answer_without_boxes_reads_as_before(server) -> None:
    response = _read(server, _without_boxes(ANSWER), "sync")

    assert response.boxes == {}
    assert response.extraction.ballot_stats.total_ballots == 8377


def test_a_typed_paper_s_statistics_boxes_are_stored_by_their_statistics_paths(server) -> None:
    ec8a = BUILTIN_FORM_TYPES["ng_ec8a"]
    answer = {
        "form": {"constituency_name": "PU 012", "constituency_code": None, "form_type": None},
        "vote_results": [
            {
                "candidate_name": "APC",
                "party": "APC",
                "vote_count": 203,
                "vote_count_words": "TWO HUNDRED AND THREE",
                "vote_count_box_2d": [100, 500, 120, 560],
            },
        ],  # fmt: skip
        "statistics": {key: None for key in ec8a.keys} | {"valid_votes": 203},
        "statistics_box_2d": {"valid_votes": [800, 500, 820, 560]},
    }

    response = _read(server, answer, "async", ec8a)

    assert response.boxes == {
        "vote_results[0].vote_count": [0.5, 0.1, 0.56, 0.12],
        "statistics.valid_votes": [0.5, 0.8, 0.56, 0.82],
    }
    assert response.extraction.statistics["valid_votes"] == 203


def test_the_request_asks_for_a_box_per_count_in_gemini_s_convention(server) -> None:
    _read(server, ANSWER, "sync")

    schema = server.generate_requests[0].generation_config["responseSchema"]
    row_box = schema["properties"]["vote_results"]["items"]["properties"]["vote_count_box_2d"]
    assert row_box["type"] == "ARRAY" and row_box["nullable"] and row_box["items"]["type"] == "INTEGER"
    assert "[ymin, xmin, ymax, xmax]" in row_box["description"] and "0-1000" in row_box["description"]
    statistics = schema["properties"]["statistics_box_2d"]["properties"]
    assert set(statistics) == {"valid_votes", "rejected_ballots", "total_ballots"}
