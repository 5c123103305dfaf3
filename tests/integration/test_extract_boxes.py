"""Where on the paper, end to end: POST /extract stores each count's box, GET /extract/{id} answers it.

The offline model runs real Tesseract on a synthetic form that knows where it drew each figure;
Gemini is the local stand-in for its generateContent REST API (no Gemini is reachable from here),
answering with `box_2d` boxes as Gemini writes them. Real emulators underneath.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from shared.synthetic.forms import Degradation, generate_form
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import text_reply
from tests.integration import stored
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}


def _post(client, form, **fields):
    # The API's 503 says "try again shortly", and a client does: the first write to an emulator
    # started moments ago can outlast Firestore's deadline on a loaded machine.
    for _ in range(3):
        data = {"image": (io.BytesIO(form.image), "form.png", form.content_type)}
        data.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})
        response = client.post("/", data=data, headers=HEADERS, content_type="multipart/form-data")
        if response.status_code != 503:
            break
    return response


def _centre_inside(box: list[float], drawn: tuple[int, int, int, int], size: tuple[int, int]) -> bool:
    x, y = (drawn[0] + drawn[2]) / 2 / size[0], (drawn[1] + drawn[3]) / 2 / size[1]
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


@pytest.mark.integration
def test_an_offline_extraction_stores_a_box_on_each_figure_and_get_answers_it(extract_client):
    form = generate_form(11, degradation=Degradation(rotation_deg=1.5))
    size = Image.open(io.BytesIO(form.image)).size

    posted = _post(extract_client, form, model="tesseract", expected=form.truth.model_dump())

    assert posted.status_code == 200, posted.json
    extraction_id = posted.json["extraction_id"]
    got = extract_client.get(f"/{extraction_id}", headers=HEADERS)
    assert got.status_code == 200
    body = got.json
    assert_matches_contract("/extract/{extraction_id}", "GET", 200, body)
    assert body["boxes"] == posted.json["boxes"] and body["boxes"]
    assert stored.extraction_document(extraction_id)["boxes"] == body["boxes"]  # in Firestore, as answered
    truth = form.truth
    right = [
        f"vote_results[{i}].vote_count"
        for i, (read, want) in enumerate(zip(body["result"]["vote_results"], truth.vote_results, strict=False))
        if read["vote_count"] == want.vote_count
    ]
    right += [
        f"ballot_stats.{k}"
        for k, v in truth.ballot_stats.model_dump().items()
        if body["result"]["ballot_stats"][k] == v
    ]
    assert len(right) >= 5
    for path in right:
        assert _centre_inside(body["boxes"][path], form.figure_boxes[path], size), path
    # Boxes are beside the result, never in it: the exact-match evaluators judge the counts alone.
    assert "boxes" not in body["result"]
    exact = next(e for e in body["evaluations"] if e["label"] == "extraction_quality")
    assert exact["value"] >= 9.0


@pytest.mark.integration
def test_gemini_s_boxes_end_up_stored_converted_to_fractions(extract_client, gemini, configure):
    configure(CROSS_CHECK="on", CROSS_CHECK_READER="tesseract")  # the suite runs with it off
    form = generate_form(12)
    answer = form.truth.model_dump()
    answer["vote_results"][0]["vote_count_box_2d"] = [250, 600, 275, 680]  # Gemini's [ymin, xmin, ymax, xmax], 0-1000
    answer["statistics_box_2d"] = {"valid_votes": [700, 150, 720, 230], "rejected_ballots": [10, 20, 5, 30]}
    gemini.enqueue(text_reply(json.dumps(answer)))

    posted = _post(extract_client, form, model="gemini-2.5-flash", expected=form.truth.model_dump())

    assert posted.status_code == 200, posted.json
    body = extract_client.get(f"/{posted.json['extraction_id']}", headers=HEADERS).json
    gemini_paths = {"vote_results[0].vote_count", "ballot_stats.valid_votes"}
    assert body["boxes"]["vote_results[0].vote_count"] == [0.6, 0.25, 0.68, 0.275]
    assert body["boxes"]["ballot_stats.valid_votes"] == [0.15, 0.7, 0.23, 0.72]
    # Where Gemini gave no box (other rows) or a malformed one (rejected: ymin after ymax, dropped),
    # the cross check's second reading (Tesseract, on by default) gave its own: on the figure drawn.
    size = Image.open(io.BytesIO(form.image)).size
    from_second = [path for path in form.figure_boxes if path not in gemini_paths and path in body["boxes"]]
    assert "ballot_stats.rejected_ballots" in from_second and len(from_second) >= 3
    for path in from_second:
        assert _centre_inside(body["boxes"][path], form.figure_boxes[path], size), path
    assert body["result"]["vote_results"][0] == form.truth.vote_results[0].model_dump()
    schema_valid = next(e for e in body["evaluations"] if e["label"] == "schema_valid")
    assert schema_valid["value"] is True
