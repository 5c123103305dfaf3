"""Where on the paper: the crop of the form image at a count's box, beside the readings of it.

An extraction carries `boxes` (API.md, openapi `FieldBoxes`): `{field path: [x0, y0, x1, y1]}`,
fractions of the upright image, from the OCR's word boxes or Gemini's `box_2d` (or the second
reading's, where the model gave none). A reviewer checking a field that two readings disagree on,
or that a person corrected, sees the figure itself, cut out with a margin, next to both values.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import streamlit as st
from PIL import Image, ImageOps, UnidentifiedImageError
from table_cells import literal

Json = dict[str, Any]
_ROW_PATH = re.compile(r"^vote_results\[(?P<row>.+)\]\.vote_count$")
_STATISTIC_PREFIXES = ("ballot_stats.", "statistics.")
_PAD_HEIGHTS = 0.8  # the margin around a box, in box heights: the figure's neighbours and its row's rules
_MIN_PAD_PX = 12
_SHOWN_HEIGHT_PX = 90  # a crop is scaled to about this height so small print reads


@dataclass(frozen=True)
class FieldToCheck:
    """A field a reviewer should look at on the paper, with the two readings of it."""

    field: str  # as the API names it (`vote_results[Jane Doe].vote_count`, `ballot_stats.valid_votes`)
    label: str
    first: Any
    second: Any
    first_name: str
    second_name: str
    why: str = ""


def box_of(record: Json, field: str) -> list[float] | None:
    """The stored box of `field`: a row named by position or by candidate name, a statistic by
    either of its paths (a generic paper's `ballot_stats.`, a typed paper's `statistics.`)."""
    boxes = record.get("boxes") or {}
    if field in boxes:
        return _valid(boxes[field])
    row = _ROW_PATH.match(field)
    if row is not None:
        index = _row_index(record.get("result") or {}, row["row"])
        return None if index is None else _valid(boxes.get(f"vote_results[{index}].vote_count"))
    for prefix in _STATISTIC_PREFIXES:
        if field.startswith(prefix):
            key = field[len(prefix) :]
            return next((_valid(boxes[p + key]) for p in _STATISTIC_PREFIXES if p + key in boxes), None)
    return None


def _row_index(result: Json, row: str) -> int | None:
    rows = result.get("vote_results") or []
    if row.isdigit():
        return int(row) if int(row) < len(rows) else None
    wanted = _folded(row)
    return next((i for i, r in enumerate(rows) if _folded(r.get("candidate_name") or "") == wanted), None)


def _folded(name: str) -> str:
    return " ".join(re.sub(r"[^\w ]+", " ", name.casefold()).split())


def _valid(box: Any) -> list[float] | None:
    if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, int | float) for v in box):
        return None
    x0, y0, x1, y1 = box
    return [float(v) for v in box] if 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 else None


def crop(image: bytes, box: list[float]) -> bytes | None:
    """The PNG of the image at `box` (fractions of the upright image), padded a little; None when
    the image cannot be decoded."""
    try:
        with Image.open(io.BytesIO(image)) as opened:
            upright = ImageOps.exif_transpose(opened)
            width, height = upright.size
            left, top, right, bottom = box[0] * width, box[1] * height, box[2] * width, box[3] * height
            pad = max(_MIN_PAD_PX, (bottom - top) * _PAD_HEIGHTS)
            area = (
                max(0, int(left - 2 * pad)),
                max(0, int(top - pad)),
                min(width, int(right + 2 * pad + 1)),
                min(height, int(bottom + pad + 1)),
            )
            piece = upright.crop(area)
            if piece.height < _SHOWN_HEIGHT_PX:
                factor = _SHOWN_HEIGHT_PX / piece.height
                piece = piece.resize((round(piece.width * factor), _SHOWN_HEIGHT_PX), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            piece.convert("RGB").save(buffer, format="PNG")
            return buffer.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def disagreement_fields(disagreements: list[Json]) -> list[FieldToCheck]:
    """The cross check's disagreeing fields: this extraction's value against the second reading's."""
    return [
        FieldToCheck(
            field=str(d.get("field") or ""),
            label=field_label(str(d.get("field") or "")),
            first=d.get("primary"),
            second=d.get("second"),
            first_name="this extraction",
            second_name="second reading",
            why=str(d.get("why") or ""),
        )
        for d in disagreements
        if d.get("field")
    ]


def corrected_fields(result: Json | None, corrected: Json | None) -> list[FieldToCheck]:
    """The counts a person's correction changed: the model's value against the corrected one."""
    if not result or not corrected:
        return []
    changed: list[FieldToCheck] = []
    before = {_folded(r.get("candidate_name") or ""): r for r in result.get("vote_results") or []}
    for row in corrected.get("vote_results") or []:
        old = before.get(_folded(row.get("candidate_name") or ""))
        if old is not None and old.get("vote_count") != row.get("vote_count"):
            field = f"vote_results[{old.get('candidate_name')}].vote_count"
            changed.append(_correction(field, old.get("vote_count"), row.get("vote_count")))
    for prefix, values_of in (("ballot_stats.", "ballot_stats"), ("statistics.", "statistics")):
        mine, theirs = result.get(values_of) or {}, corrected.get(values_of) or {}
        for key in mine:
            if key in theirs and mine.get(key) != theirs.get(key) and not _listed(changed, key):
                changed.append(_correction(prefix + key, mine.get(key), theirs.get(key)))
    return changed


def _listed(fields: list[FieldToCheck], key: str) -> bool:
    return any(f.field.endswith(f".{key}") for f in fields)


def _correction(field: str, model_value: Any, corrected_value: Any) -> FieldToCheck:
    return FieldToCheck(
        field=field,
        label=field_label(field),
        first=model_value,
        second=corrected_value,
        first_name="the model read",
        second_name="a person corrected it to",
    )


def field_label(field: str) -> str:
    """A field path as a person says it: "Jane Doe's votes", "valid votes"."""
    row = _ROW_PATH.match(field)
    if row is not None:
        return f"{row['row']}'s votes"
    for prefix in _STATISTIC_PREFIXES:
        if field.startswith(prefix):
            return field[len(prefix) :].replace("_", " ")
    return field


def show_fields_on_paper(record: Json, image: bytes | None, fields: list[FieldToCheck], *, title: str) -> None:
    """Each field's crop of the form beside its two readings; a sentence where there is no crop."""
    if not fields:
        return
    st.markdown(f"**{title}**")
    for field in fields:
        picture, readings = st.columns([2, 3], vertical_alignment="center")
        box = box_of(record, field.field)
        piece = crop(image, box) if image and box else None
        with picture:
            if piece is not None:
                st.image(piece, caption=f"On the paper: {field.label}")
            elif box is None:
                st.caption(f"No crop for {literal(field.label)}: the reading did not say where on the paper it is.")
            else:
                st.caption(f"No crop for {literal(field.label)}: the form image could not be loaded.")
        with readings:
            why = f" ({literal(field.why)})" if field.why else ""
            st.markdown(
                f"**{literal(field.label)}**{why}  \n"
                f"{field.first_name}: **{_count(field.first)}** · {field.second_name}: **{_count(field.second)}**"
            )


def _count(value: Any) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else literal(str(value))
