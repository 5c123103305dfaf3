"""Reviewers are people: their names as they write them, never something hostile."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.services.review import ClaimRequest


@pytest.mark.parametrize("name", ["ada", "José O'Brien", "Zoë Ngũgĩ", "李明", "ops@example.org", "A. N. Other"])
def test_names_people_have_are_accepted(name: str) -> None:
    assert ClaimRequest(reviewer=name).reviewer == name


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "a\nb", "\x00x", "_x", " ada", "x" * 101, "<script>"])
def test_hostile_or_empty_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        ClaimRequest(reviewer=name)
