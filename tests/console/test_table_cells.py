"""A table cell shows the paper's text as printed, not as Markdown would render it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from table_cells import literal  # noqa: E402


@pytest.mark.parametrize(
    ("printed", "escaped"),
    [
        ("1. Number of Voters on the Register", "1\\. Number of Voters on the Register"),  # not a list item
        ("8. Total (#5 + #6 + #7)", "8\\. Total (\\#5 + \\#6 + \\#7)"),
        ("*APC*", "\\*APC\\*"),  # not italic
        ("$5 and $6", "\\$5 and \\$6"),  # not a formula
        ("- NIL", "\\- NIL"),
        ("valid_votes <= accredited_voters", "valid\\_votes \\<= accredited\\_voters"),
        ("Papeletas en ánfora", "Papeletas en ánfora"),
    ],
)
def test_markdown_is_escaped(printed: str, escaped: str) -> None:
    assert literal(printed) == escaped


def test_numbers_and_nothing_pass_unchanged() -> None:
    assert literal(203) == 203 and literal(None) is None
