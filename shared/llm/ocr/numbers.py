"""Reading vote counts out of noisy OCR text: "1,234", "1 234", "l2.O45", "|538".

Pure Python. A count comes back as its possible readings, most likely first; an empty list
means the text is not a readable count.
"""

from __future__ import annotations

import re

# Characters Tesseract puts where a digit was printed.
_DIGIT_LOOKALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "U": "0",
        "@": "0",
        "©": "0",
        "®": "0",
        "Ø": "0",
        "ø": "0",
        "l": "1",
        "I": "1",
        "i": "1",
        "|": "1",
        "!": "1",
        "L": "1",
        "J": "1",
        "S": "5",
        "s": "5",
        "$": "5",
        "B": "8",
        "Z": "2",
        "z": "2",
        "G": "6",
        "b": "6",
        "g": "9",
        "q": "9",
        "T": "7",
        "A": "4",
    }
)
# Grid-line and border remnants that stick to a cell's edges.
_EDGE_JUNK = "|[]{}()_—–-=:;\"'`~*#^<>/\\ \t"
# Lookalikes that may be a grid line rather than a digit when at the edge of a cell.
_STRAY_ONE = set("lIi|![]")
_SEPARATORS = ",. '’`"
_COUNT_TEXT = re.compile(r"^[0-9OoDQU©®@ØølIi|!LJSs$BZzGbgqTA,. '’`]+$")


# A dotted or slashed zero (DejaVu Sans Mono, FreeMono) comes back as one of these.
_ZERO_GLYPHS = "©®Øø"
# What a lone "0" can come back as when Tesseract is unsure: a bracket, a round letter.
_LONE_ZERO = re.compile(r"^[()\[\]{}©®@oOQDCc0]{1,2}$")


def looks_like_count(text: str) -> bool:
    """Whether a cell is a count (digits, separators and digit lookalikes, with at least one digit)."""
    stripped = text.strip(_EDGE_JUNK)
    if not stripped or not _COUNT_TEXT.match(stripped):
        return False
    digits = sum(ch.isdigit() or ch in _ZERO_GLYPHS for ch in stripped)
    letters = sum(ch.isalpha() for ch in stripped)
    return digits >= 1 and digits >= letters


def maybe_zero(text: str) -> bool:
    """Whether an unreadable cell could be a lone "0" (")", "O", "()"...): worth 0 only if the sums agree."""
    return bool(_LONE_ZERO.match(text.strip(" |_-—–:;.,'`\"")))


def count_readings(text: str) -> list[int]:
    """All plausible integer readings of an OCR'd count, most likely first.

    Thousands separators (comma, dot, space, apostrophe) are accepted where they split the digits
    into groups of three. A stray "1"-like character at the edge of a cell (a grid line) gives a
    second reading without it.
    """
    stripped = text.strip(_EDGE_JUNK)
    if not stripped or not _COUNT_TEXT.match(stripped):
        return []
    readings: list[int] = []
    primary = _reading(stripped)
    if primary is not None:
        readings.append(primary)
    for trimmed in _without_stray_edges(stripped):
        value = _reading(trimmed)
        if value is not None and value not in readings:
            readings.append(value)
    return readings


def _reading(text: str) -> int | None:
    mapped = text.translate(_DIGIT_LOOKALIKES)
    if not any(ch.isdigit() for ch in mapped) or not all(ch.isdigit() or ch in _SEPARATORS for ch in mapped):
        return None
    groups = [g for g in re.split(r"[,. '’`]+", mapped) if g]
    if not groups:
        return None
    if len(groups) > 1 and not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
        return None
    return int("".join(groups))


def _without_stray_edges(text: str) -> list[str]:
    variants = []
    if len(text) > 1 and text[0] in _STRAY_ONE and text[1] not in _SEPARATORS:
        variants.append(text[1:])
    if len(text) > 1 and text[-1] in _STRAY_ONE and text[-2] not in _SEPARATORS:
        variants.append(text[:-1])
    return variants
