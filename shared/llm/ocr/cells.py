"""A form's OCR text as both parsers (`parser`, `typed_parser`) read it: a line's cells, each with
the columns it spans, and a candidate row with its possible counts."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    """A cell of a line: its text and the character columns it spans (end exclusive)."""

    text: str
    start: int
    end: int

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


@dataclass
class Row:
    """A candidate (or party) row as read."""

    name: str
    party: str | None
    words: str | None = None  # the count as written in words, on a type with a words column
    # possible counts, most likely first; a leading None means "unread unless the sums say otherwise"
    readings: list[int | None] = field(default_factory=list)
