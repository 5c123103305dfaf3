"""Gemini's prompt and response schema built from the form type, through the real adapter path.

Gemini cannot be reached from here: `tests.fakes.gemini_server` is a local HTTP server that
stands in for Gemini's generateContent REST API. The adapter talks to it with google-genai's own
client (sync calls) and with the lean REST path (async calls), so what is asserted here is the
request body as it goes on the wire, and the answer as the adapter reads it back.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import _common, types
from google.genai import models as genai_models
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from shared.config import Settings
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.model import FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.llm.base import ModelRequest
from shared.llm.gemini import GeminiModel
from shared.llm.gemini.answer_schema import answer_model
from shared.llm.gemini.paper_prompt import form_type_section
from shared.llm.second_reader import read_again
from shared.models import BallotStats, FormInfo
from shared.prompts import CROSS_CHECK_PROMPT, builtin_prompt
from shared.reading import ONLINE_RETRIES, FormReader
from tests.fakes.gemini_server import FakeGeminiServer, RecordedRequest, extraction_reply

API_KEY = "test-gemini-key-form-types"
MODEL = "gemini-2.5-flash"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
NG_EC8A = BUILTIN_FORM_TYPES["ng_ec8a"]
BO_ACTA = BUILTIN_FORM_TYPES["bo_acta"]

# What Gemini would read off an EC8A: eight numbered rows, party rows in figures and in words.
EC8A_ANSWER: dict[str, Any] = {
    "form": {"constituency_name": "Ward 04 PU 012", "constituency_code": "24-07-04-012", "form_type": None},
    "vote_results": [
        {"candidate_name": "APC", "party": "APC", "vote_count": 203, "vote_count_words": "TWO HUNDRED AND THREE"},
        {"candidate_name": "PDP", "party": "PDP", "vote_count": 0, "vote_count_words": "NIL"},
        {"candidate_name": "LP", "party": "LP", "vote_count": 57, "vote_count_words": "FIFTY SEVEN"},
    ],
    "statistics": {
        "registered_voters": 750,
        "accredited_voters": 280,
        "ballots_issued": 750,
        "unused_ballots": 460,
        "spoiled_ballots": 2,
        "rejected_ballots": 8,
        "valid_votes": 260,
        "used_ballots": 270,
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


def settings_for(server: FakeGeminiServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gemini_api_key": API_KEY,
        "gemini_use_vertex": False,
        "gemini_base_url": server.base_url,
        "gemini_timeout_s": 5.0,
        "gemini_retry_attempts": 1,
        **overrides,
    }
    return Settings(**values)


def request_for(form_type: FormType, prompt_name: str = "prompt_a") -> ModelRequest:
    return ModelRequest(
        image=PNG_BYTES, content_type="image/png", prompt=builtin_prompt(prompt_name), form_type=form_type
    )


def schema_of(sent: RecordedRequest) -> dict[str, Any]:
    return sent.generation_config["responseSchema"]  # type: ignore[no-any-return]


# A paper with its own statistics and words: ng_ec8a.


def test_an_ec8a_request_asks_for_its_eight_statistics_by_their_printed_labels_and_its_words(
    server: FakeGeminiServer,
) -> None:
    server.enqueue(extraction_reply(EC8A_ANSWER))
    model = GeminiModel(MODEL, settings=settings_for(server))

    model.extract(request_for(NG_EC8A))

    [sent] = server.generate_requests
    schema = schema_of(sent)
    assert set(schema["properties"]) == {"form", "vote_results", "statistics", "statistics_box_2d"}  # no ballot_stats
    statistics = schema["properties"]["statistics"]
    assert statistics["property_ordering"] == NG_EC8A.keys  # the paper's order
    assert {key: spec["description"] for key, spec in statistics["properties"].items()} == {
        s.key: s.label for s in NG_EC8A.statistics
    }
    assert all(spec["type"] == "INTEGER" and spec["nullable"] for spec in statistics["properties"].values())
    assert "additionalProperties" not in statistics and not statistics.get("additional_properties")
    row = schema["properties"]["vote_results"]["items"]["properties"]
    assert row["vote_count_words"]["type"] == "STRING" and row["vote_count_words"]["nullable"]


def test_an_ec8a_prompt_is_the_template_then_the_paper_with_its_printed_labels(server: FakeGeminiServer) -> None:
    server.enqueue(extraction_reply(EC8A_ANSWER))
    model = GeminiModel(MODEL, settings=settings_for(server))

    model.extract(request_for(NG_EC8A))

    [text] = server.generate_requests[0].texts
    template = builtin_prompt("prompt_a").text
    assert text.startswith(template + "\n\n")
    section = text[len(template) :]
    assert "Nigeria INEC Form EC8A" in section and "English" in section
    positions = [section.index(f'{s.key}: "{s.label}"') for s in NG_EC8A.statistics]
    assert positions == sorted(positions)  # each key with its printed label, in the paper's order
    assert "8. Total Number of Used Ballot Papers (#5 + #6 + #7)" in section
    assert "Counts are also written in words: copy them into vote_count_words" in section
    assert "Use null for a blank row or anything you cannot read; NIL or a dash is 0." in section


def test_an_ec8a_answer_comes_back_with_its_statistics_and_words_in_the_type_s_shape(
    server: FakeGeminiServer,
) -> None:
    server.enqueue(extraction_reply(EC8A_ANSWER))
    model = GeminiModel(MODEL, settings=settings_for(server))

    extraction = model.extract(request_for(NG_EC8A)).extraction

    assert extraction.statistics == EC8A_ANSWER["statistics"]
    assert list(extraction.statistics) == NG_EC8A.keys
    assert [r.vote_count_words for r in extraction.vote_results] == ["TWO HUNDRED AND THREE", "NIL", "FIFTY SEVEN"]
    assert extraction.ballot_stats == BallotStats()  # generic's three are not this paper's
    assert extraction.form.form_type == "ng_ec8a@1"


def test_an_answer_missing_a_statistic_or_adding_one_is_put_in_the_type_s_shape(server: FakeGeminiServer) -> None:
    partial = {**EC8A_ANSWER, "statistics": {"registered_voters": 750, "valid_votes": None, "invented_row": 5}}
    server.enqueue(extraction_reply(partial))
    model = GeminiModel(MODEL, settings=settings_for(server))

    extraction = model.extract(request_for(NG_EC8A)).extraction

    assert extraction.statistics == {key: (750 if key == "registered_voters" else None) for key in NG_EC8A.keys}


def test_the_async_rest_path_sends_the_body_google_genai_sends_for_a_typed_paper(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: extraction_reply(EC8A_ANSWER))
    model = GeminiModel(MODEL, settings=settings_for(server))

    by_genai = model.extract(request_for(NG_EC8A))
    lean = asyncio.run(model.extract_async(request_for(NG_EC8A)))

    sdk_request, rest_request = server.generate_requests
    assert rest_request.texts == sdk_request.texts
    assert rest_request.generation_config == sdk_request.generation_config
    assert lean.extraction == by_genai.extraction
    assert lean.extraction.statistics["used_ballots"] == 270


def test_two_types_in_one_process_each_get_their_own_schema_and_text_on_the_rest_path(
    server: FakeGeminiServer,
) -> None:
    model = GeminiModel(MODEL, settings=settings_for(server))

    async def both() -> None:
        await model.extract_async(request_for(NG_EC8A))
        await model.extract_async(request_for(BO_ACTA))

    asyncio.run(both())

    ec8a, acta = server.generate_requests
    assert ec8a.statistic_keys == NG_EC8A.keys and acta.statistic_keys == BO_ACTA.keys
    assert "Electores habilitados" in acta.texts[0] and "Spanish" in acta.texts[0]
    assert "Electores habilitados" not in ec8a.texts[0]


# A paper without words: bo_acta.


def test_a_paper_without_words_is_not_asked_for_them_and_they_are_dropped_from_its_answer(
    server: FakeGeminiServer,
) -> None:
    answer = {
        "vote_results": [{"candidate_name": "MAS", "vote_count": 14, "vote_count_words": "catorce"}],
        "statistics": {"registered_voters": 220, "valid_votes": 14},
    }
    server.enqueue(extraction_reply(answer))
    model = GeminiModel(MODEL, settings=settings_for(server))

    extraction = model.extract(request_for(BO_ACTA)).extraction

    [sent] = server.generate_requests
    assert "vote_count_words" not in schema_of(sent)["properties"]["vote_results"]["items"]["properties"]
    assert "vote_count_words" not in sent.texts[0]
    assert extraction.vote_results[0].vote_count_words is None
    assert extraction.statistics["registered_voters"] == 220 and list(extraction.statistics) == BO_ACTA.keys


# A user's own type: any key, even one a pydantic field could not be named.


def test_a_user_type_whose_keys_shadow_basemodel_names_is_asked_for_by_those_keys(server: FakeGeminiServer) -> None:
    county = FormType(
        name="county_tally",
        version=3,
        title="County tally sheet",
        language="sw",
        statistics=[{"key": "copy", "label": "Nakala"}, {"key": "schema", "label": "Mpango"}],
    )
    server.enqueue(extraction_reply({"statistics": {"copy": 4, "schema": 9}}))
    model = GeminiModel(MODEL, settings=settings_for(server))

    extraction = model.extract(request_for(county)).extraction

    statistics = schema_of(server.generate_requests[0])["properties"]["statistics"]
    assert {key: spec["description"] for key, spec in statistics["properties"].items()} == {
        "copy": "Nakala",
        "schema": "Mpango",
    }
    assert extraction.statistics == {"copy": 4, "schema": 9}
    assert extraction.form.form_type == "county_tally@3"


def test_the_schema_is_built_once_per_type_ref_and_again_for_another_paper_under_that_ref() -> None:
    first = FormType(name="county_tally", version=1, title="A", statistics=[{"key": "a", "label": "A"}])
    same = FormType(name="county_tally", version=1, title="A", statistics=[{"key": "a", "label": "A"}])
    other_store = FormType(name="county_tally", version=1, title="B", statistics=[{"key": "b", "label": "B"}])

    assert answer_model(first) is answer_model(same)
    assert form_type_section(first) is form_type_section(same)
    assert list(answer_model(other_store).model_json_schema()["$defs"]["Statistics"]["properties"]) == ["b"]


# generic: the request is exactly what it was before form types.


class _RowBeforeFormTypes(BaseModel):
    model_config = ConfigDict(extra="forbid", title="VoteResult")

    candidate_name: str
    party: str | None = None
    vote_count: StrictInt | None = None


class _VoteExtractionBeforeFormTypes(BaseModel):
    """What a model reads off one constituency's result form."""

    # VoteExtraction as it was before form types (commit f5b34e4), its docstring included: the
    # docstring is the schema's description.

    model_config = ConfigDict(extra="forbid", title="VoteExtraction")

    form: FormInfo = Field(default_factory=FormInfo)
    vote_results: list[_RowBeforeFormTypes] = Field(default_factory=list)
    ballot_stats: BallotStats = Field(default_factory=BallotStats)


def _wire_schema(model: type[BaseModel]) -> dict[str, Any]:
    client = genai.Client(api_key="schema-only")
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=model)
    parameters = types._GenerateContentParameters(model="gemini", contents="", config=config)
    converted = genai_models._GenerateContentParameters_to_mldev(client._api_client, parameters, None, parameters)
    return _common.convert_to_dict(converted)["generationConfig"]["responseSchema"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["sync", "async"])
def test_a_generic_request_is_exactly_the_request_before_form_types(server: FakeGeminiServer, path: str) -> None:
    model = GeminiModel(MODEL, settings=settings_for(server))
    request = request_for(GENERIC_FORM_TYPE, "prompt_b")

    if path == "sync":
        model.extract(request)
    else:
        asyncio.run(model.extract_async(request))

    [sent] = server.generate_requests
    assert sent.texts == [builtin_prompt("prompt_b").text]
    assert sent.statistic_keys is None
    # The same answer as before form types, plus an optional box for each count (answer_boxes).
    assert _without_boxes(schema_of(sent)) == _wire_schema(_VoteExtractionBeforeFormTypes)
    assert schema_of(sent)["properties"]["vote_results"]["items"]["properties"]["vote_count_box_2d"]["nullable"]


def _without_boxes(schema: dict[str, Any]) -> dict[str, Any]:
    trimmed = copy.deepcopy(schema)
    trimmed["properties"].pop("statistics_box_2d")
    trimmed["property_ordering"].remove("statistics_box_2d")
    row = trimmed["properties"]["vote_results"]["items"]
    row["properties"].pop("vote_count_box_2d")
    row["property_ordering"].remove("vote_count_box_2d")
    return trimmed


# The cross check's Gemini second reader asks about the same paper.


def test_the_gemini_second_reader_asks_with_the_primary_reading_s_form_type(server: FakeGeminiServer) -> None:
    server.enqueue(extraction_reply(EC8A_ANSWER))

    second = read_again(
        "gemini-2.5-flash-lite",
        image=PNG_BYTES,
        content_type="image/png",
        settings=settings_for(server),
        tags={},
        form_type=NG_EC8A,
    )

    assert second.error is None
    assert second.extraction is not None and second.extraction.statistics == EC8A_ANSWER["statistics"]
    [sent] = server.generate_requests
    assert sent.model == "gemini-2.5-flash-lite"
    assert sent.texts[0].startswith(CROSS_CHECK_PROMPT.text + "\n\n")
    assert '- valid_votes: "7. Total Number of Valid Votes"' in sent.texts[0]
    assert sent.statistic_keys == NG_EC8A.keys


def test_a_reading_with_a_gemini_cross_check_sends_the_paper_s_type_to_both_readers(server: FakeGeminiServer) -> None:
    server.set_responder(lambda _request: extraction_reply(EC8A_ANSWER))
    settings = settings_for(server)
    reader = FormReader(settings=settings)

    reading = asyncio.run(
        reader.read(
            GeminiModel(MODEL, settings=settings),
            request_for(NG_EC8A),
            tags={},
            timeout_s=10.0,
            retry=ONLINE_RETRIES,
            second_reader="gemini-2.5-flash-lite",
        )
    )

    assert reading.second is not None and reading.second.error is None
    by_model = {sent.model: sent for sent in server.generate_requests}
    assert set(by_model) == {MODEL, "gemini-2.5-flash-lite"}
    for sent in by_model.values():
        assert sent.statistic_keys == NG_EC8A.keys
    assert reading.second.extraction is not None
    assert reading.second.extraction.statistics == EC8A_ANSWER["statistics"]
