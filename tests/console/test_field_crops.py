"""The crop of the form at a count's box, and which box a field has (pure: no page, no API).

The form is a synthetic one that knows where it drew each figure (`figure_boxes`), so a crop can be
checked for holding that figure's ink and little else.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from shared.synthetic import generate_form

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from field_crops import box_of, corrected_fields, crop, disagreement_fields, field_label  # noqa: E402

RESULT = {
    "vote_results": [
        {"candidate_name": "Amina Njeri", "vote_count": 10},
        {"candidate_name": "Peter Otieno", "vote_count": 20},
    ],
    "ballot_stats": {"valid_votes": 30, "rejected_ballots": 1, "total_ballots": 31},
    "statistics": {"valid_votes": 30, "rejected_ballots": 1, "total_ballots": 31},
}
BOXES = {
    "vote_results[1].vote_count": [0.5, 0.2, 0.6, 0.25],
    "ballot_stats.valid_votes": [0.1, 0.8, 0.2, 0.85],
}


def test_a_field_named_by_candidate_finds_its_row_s_box() -> None:
    record = {"result": RESULT, "boxes": BOXES}

    assert box_of(record, "vote_results[Peter Otieno].vote_count") == [0.5, 0.2, 0.6, 0.25]
    assert box_of(record, "vote_results[peter  otieno].vote_count") == [0.5, 0.2, 0.6, 0.25]  # as the cross check folds
    assert box_of(record, "vote_results[1].vote_count") == [0.5, 0.2, 0.6, 0.25]
    assert box_of(record, "vote_results[Amina Njeri].vote_count") is None  # read, but not located
    assert box_of(record, "vote_results[Nobody].vote_count") is None
    assert box_of(record, "statistics.valid_votes") == [0.1, 0.8, 0.2, 0.85]  # either statistic path
    assert box_of({"result": RESULT}, "ballot_stats.valid_votes") is None  # a record from before boxes


def test_a_box_that_is_no_box_is_none() -> None:
    record = {"result": RESULT, "boxes": {"ballot_stats.valid_votes": [0.3, 0.2, 0.1, 0.25]}}

    assert box_of(record, "ballot_stats.valid_votes") is None


def test_the_crop_holds_the_figure_drawn_there() -> None:
    form = generate_form(3)
    page = Image.open(io.BytesIO(form.image))
    width, height = page.size
    x0, y0, x1, y1 = form.figure_boxes["vote_results[1].vote_count"]
    box = [x0 / width, y0 / height, x1 / width, y1 / height]

    piece = Image.open(io.BytesIO(crop(form.image, box))).convert("L")

    # The crop is the padded box, scaled up: the figure's ink sits in its middle, the padding is white.
    ink = np.asarray(piece) < 128
    rows, columns = np.nonzero(ink)
    assert ink.any()
    middle_x, middle_y = columns.mean() / piece.width, rows.mean() / piece.height
    assert 0.3 < middle_x < 0.7 and 0.3 < middle_y < 0.7
    figure = np.asarray(page.convert("L").crop((x0, y0, x1, y1))) < 128
    assert ink.sum() >= 0.5 * figure.sum()  # all of the figure (a crop is only ever scaled up)
    assert piece.width < width / 4  # the figure and a margin, not the page
    assert crop(b"not an image", box) is None


def test_disagreements_and_corrections_become_fields_to_check() -> None:
    disagreements = [
        {"field": "vote_results[Amina Njeri].vote_count", "primary": 10, "second": 19, "why": "counts differ"}
    ]
    corrected = {
        **RESULT,
        "vote_results": [{"candidate_name": "Amina Njeri", "vote_count": 19}, RESULT["vote_results"][1]],
    }
    corrected["ballot_stats"] = {**RESULT["ballot_stats"], "valid_votes": 39}
    corrected["statistics"] = {**RESULT["statistics"], "valid_votes": 39}

    [disagreement] = disagreement_fields(disagreements)
    fixes = corrected_fields(RESULT, corrected)

    assert (disagreement.first, disagreement.second, disagreement.label) == (10, 19, "Amina Njeri's votes")
    assert [(f.field, f.first, f.second) for f in fixes] == [
        ("vote_results[Amina Njeri].vote_count", 10, 19),
        ("ballot_stats.valid_votes", 30, 39),
    ]
    assert field_label("statistics.accredited_voters") == "accredited voters"
