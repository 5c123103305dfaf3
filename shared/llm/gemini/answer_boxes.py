"""The boxes in Gemini's answer, taken out of it and put in the stored convention.

Gemini gives a box as `box_2d`: [ymin, xmin, ymax, xmax], each scaled to 0-1000 of the image it
was sent (`answer_schema` asks for one per count). We store `[x0, y0, x1, y1]` as fractions (0-1)
of the image's width and height (`shared.models.FieldBoxes`), so a Gemini box and an OCR box mean
the same. A box that is not four numbers within 0-1000 with its minimum before its maximum is
dropped: a wrong box must never cost the reading.
"""

from __future__ import annotations

from typing import Any

from shared.form_types.model import GENERIC, FormType
from shared.llm.gemini.answer_schema import ROW_BOX_FIELD, STATISTICS_BOX_FIELD
from shared.models import FieldBoxes

_SCALE = 1000


def take_boxes(answer: Any, form_type: FormType) -> FieldBoxes:
    """Remove the box fields from a parsed answer (in place) and return its boxes by field path."""
    if not isinstance(answer, dict):
        return {}
    boxes: FieldBoxes = {}
    rows = answer.get("vote_results")
    for index, row in enumerate(rows if isinstance(rows, list) else []):
        if isinstance(row, dict) and ROW_BOX_FIELD in row:
            box = stored_box(row.pop(ROW_BOX_FIELD))
            if box is not None:
                boxes[f"vote_results[{index}].vote_count"] = box
    statistics = answer.pop(STATISTICS_BOX_FIELD, None)
    prefix = "ballot_stats" if form_type.name == GENERIC else "statistics"
    for key, value in (statistics if isinstance(statistics, dict) else {}).items():
        box = stored_box(value) if key in form_type.keys else None  # another paper's key: no field of ours
        if box is not None:
            boxes[f"{prefix}.{key}"] = box
    return boxes


def stored_box(box_2d: Any) -> list[float] | None:
    """Gemini's [ymin, xmin, ymax, xmax] on 0-1000 as [x0, y0, x1, y1] on 0-1; None if it is no box."""
    if not isinstance(box_2d, list) or len(box_2d) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= _SCALE for v in box_2d):
        return None
    ymin, xmin, ymax, xmax = box_2d
    if ymin >= ymax or xmin >= xmax:
        return None
    return [xmin / _SCALE, ymin / _SCALE, xmax / _SCALE, ymax / _SCALE]
