"""Read a photographed result form with Tesseract: preprocess, OCR, parse.

The OCR words are laid back out as text with their columns kept (a wide gap between two words
becomes several spaces, placed at a column proportional to the word's x position), so the parser
can tell table cells apart; plain Tesseract text collapses every gap to one space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from shared.form_types.model import FormType
from shared.llm.ocr import parser, preprocess, processes
from shared.models import FieldBoxes, VoteExtraction

# (image variant, Tesseract options), tried in order until a reading checks out.
TESSERACT_PASSES: tuple[tuple[str, str], ...] = (
    ("as_is", "--psm 4"),
    ("sharpened", "--psm 6"),
    ("enlarged", "--psm 6"),
    ("binarized", "--psm 4"),
)
# A second, independent reading (the cross check of a tesseract extraction): other page variants
# first and the other page-segmentation mode, so the two readings do not share one failure.
ALTERNATE_PASSES: tuple[tuple[str, str], ...] = (
    ("binarized", "--psm 6"),
    ("enlarged", "--psm 4"),
    ("sharpened", "--psm 4"),
    ("as_is", "--psm 6"),
)
_VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as_is": lambda page: page,
    "sharpened": preprocess.sharpen,
    "enlarged": preprocess.enlarge,
    "binarized": preprocess.binarize,
}
# Gaps wider than this many character widths separate two cells rather than two words.
_CELL_GAP_CHARS = 1.6


@dataclass(frozen=True)
class OcrReading:
    """What the offline model read: the parsed extraction, the laid-out OCR text, the skew removed,
    and where each count was read (the union of its cell's word boxes, as fractions of the image)."""

    extraction: VoteExtraction
    text: str
    angle_deg: float
    boxes: FieldBoxes = field(default_factory=dict)


@dataclass(frozen=True)
class _Word:
    text: str
    left: int
    top: int
    width: int
    height: int


# Each laid-out line's words with the character columns they were placed at: (start, end, word).
_Placed = list[list[tuple[int, int, _Word]]]


@dataclass(frozen=True)
class _PassReading:
    quality: tuple[int, ...]
    extraction: VoteExtraction
    text: str
    cells: dict[str, parser.CellSpan]
    placed: _Placed
    page_shape: tuple[int, ...]


def read_form(
    image: bytes,
    *,
    deskew: bool = True,
    remove_lines: bool = True,
    passes: tuple[tuple[str, str], ...] = TESSERACT_PASSES,
    form_type: FormType | None = None,
) -> OcrReading:
    """OCR one result form image and parse it into a VoteExtraction.

    Tesseract runs with --psm 4 first. When that reading fails the form's own arithmetic
    (candidate votes summing to the valid votes, valid + rejected = total) or leaves a count
    unread, the page is read again: sharpened with --psm 6 (which keeps table rows together
    where psm 4 sometimes drops a column), enlarged 1.5 times (thin fonts), then binarized; the
    reading that checks out best is kept.

    Args:
        image: PNG, JPEG, WebP or TIFF bytes.
        deskew: Level a page photographed up to about 5 degrees off before OCR.
        remove_lines: Erase table grid lines before OCR.
        passes: The (page variant, Tesseract options) tried in order; ALTERNATE_PASSES for a
            second reading.
        form_type: The paper's type: one other than `generic` is read by its labels, and its
            rules judge the readings.

    Returns:
        The extraction (unreadable values are null), the laid-out OCR text and the skew angle.

    Raises:
        ValueError: The bytes cannot be decoded as an image.
    """
    page, geometry = preprocess.prepare_page(image, deskew_page=deskew, remove_table_lines=remove_lines)
    best: _PassReading | None = None
    for variant, config in passes:
        variant_page = _VARIANTS[variant](page)
        text, placed = ocr_layout(variant_page, config=config)
        extraction, cells = parser.parse_form_text_with_cells(text, form_type)
        quality = parser.consistency(extraction, form_type)
        if best is None or quality > best.quality:
            best = _PassReading(quality, extraction, text, cells, placed, variant_page.shape)
        if parser.is_complete(extraction, form_type):
            break
    assert best is not None
    return OcrReading(
        extraction=best.extraction, text=best.text, angle_deg=geometry.angle, boxes=_boxes(best, geometry)
    )


def _boxes(reading: _PassReading, geometry: preprocess.PageGeometry) -> FieldBoxes:
    """Each count's box on the image: the words its cell was laid out from, joined."""
    boxes: FieldBoxes = {}
    for path, (line, start, end) in reading.cells.items():
        if not 0 <= line < len(reading.placed):
            continue
        words = [word for first, last, word in reading.placed[line] if first < end and last > start]
        if not words:
            continue
        box = (
            min(w.left for w in words),
            min(w.top for w in words),
            max(w.left + w.width for w in words),
            max(w.top + w.height for w in words),
        )
        boxes[path] = geometry.to_image(box, reading.page_shape)
    return boxes


def ocr_layout_text(page: np.ndarray, *, config: str = "--psm 4") -> str:
    """Run Tesseract on a grayscale page and return its words laid out in columns."""
    return ocr_layout(page, config=config)[0]


def ocr_layout(page: np.ndarray, *, config: str = "--psm 4") -> tuple[str, _Placed]:
    """Tesseract's words laid out in columns, and where on each line each word was placed."""
    data = processes.tesseract_words(page, config=config)
    lines: dict[tuple[int, int, int], list[_Word]] = {}
    for index, word_text in enumerate(data["text"]):
        word_text = word_text.strip()
        if not word_text:
            continue
        key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
        lines.setdefault(key, []).append(
            _Word(
                text=word_text,
                left=int(data["left"][index]),
                top=int(data["top"][index]),
                width=int(data["width"][index]),
                height=int(data["height"][index]),
            )
        )
    return _layout(_merge_rows(list(lines.values())))


def _merge_rows(lines: list[list[_Word]]) -> list[list[_Word]]:
    """Join Tesseract lines that sit on the same row of the page.

    Tesseract may read a table row with wide gaps as several blocks, one per column; the parser
    needs the whole row on one line.
    """
    if not lines:
        return []
    heights = sorted(w.height for line in lines for w in line)
    typical = heights[len(heights) // 2]

    def centre(line: list[_Word]) -> float:
        return float(median(w.top + w.height / 2 for w in line))

    rows: list[list[_Word]] = []
    row_centre = 0.0
    for line in sorted(lines, key=centre):
        if rows and abs(centre(line) - row_centre) < 0.45 * typical:
            rows[-1].extend(line)
            row_centre = centre(rows[-1])
        else:
            rows.append(list(line))
            row_centre = centre(line)
    return rows


def layout_text(lines: list[list[_Word]]) -> str:
    """Place each line's words at character columns proportional to their x position."""
    return _layout(lines)[0]


def _layout(lines: list[list[_Word]]) -> tuple[str, _Placed]:
    words = [w for line in lines for w in line if len(w.text) >= 2]
    if not words:
        return "", []
    char_width = max(1.0, median(w.width / len(w.text) for w in words))
    origin = min(w.left for line in lines for w in line)
    rendered: list[str] = []
    placed: _Placed = []
    for line in lines:
        out = ""
        previous_right: int | None = None
        spans: list[tuple[int, int, _Word]] = []
        for word in sorted(line, key=lambda w: w.left):
            column = int(round((word.left - origin) / char_width))
            if previous_right is None:
                out = " " * column
            elif word.left - previous_right > _CELL_GAP_CHARS * char_width:
                out += " " * max(2, column - len(out))
            else:
                out += " "
            spans.append((len(out), len(out) + len(word.text), word))
            out += word.text
            previous_right = word.left + word.width
        rendered.append(out.rstrip())
        placed.append(spans)
    return "\n".join(rendered), placed
