"""Which form type a request, a variant, an expected output or an evaluation is about.

A form type is named `name` (its latest version) or `name@n`. An expected output's
`form.form_type` written before form types existed holds the paper's printed name ("Form 34A"):
text that is not a type's name reads as `generic`, so old datasets keep their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.model import FORM_TYPE_REF_PATTERN, GENERIC, FormType
from shared.models import VoteExtraction


class FormTypes(Protocol):
    """Where form types are looked up: `get` raises `shared.errors.NotFound` for an unknown one."""

    def get(self, ref: str) -> FormType: ...


def names_a_form_type(text: str | None) -> bool:
    """True when `text` is written as a type's name (`name` or `name@n`), not legacy free text."""
    return text is not None and re.fullmatch(FORM_TYPE_REF_PATTERN, text) is not None


def split_ref(ref: str) -> tuple[str, int | None]:
    """`name@n` -> (name, n); `name` -> (name, None)."""
    name, _, version = ref.partition("@")
    return name, int(version) if version else None


def declared_form_type(extraction: VoteExtraction | None) -> str:
    """The type an expected output (or a reading) names, as a ref; `generic` when it names none."""
    text = extraction.form.form_type if extraction is not None else None
    return text if names_a_form_type(text) else GENERIC  # type: ignore[return-value]


def is_generic(ref: str) -> bool:
    """`generic` or `generic@n`: the shape of the forms read before form types."""
    return split_ref(ref)[0] == GENERIC


def builtin_form_type(ref: str | None) -> FormType | None:
    """A shipped type by ref (version 1 is the only version of each), None for any other."""
    if not names_a_form_type(ref):
        return None
    name, version = split_ref(ref)  # type: ignore[arg-type]
    form = BUILTIN_FORM_TYPES.get(name)
    return form if form is not None and version in (None, form.version) else None


GENERIC_FORM_TYPE = BUILTIN_FORM_TYPES[GENERIC]


def form_type_for_evaluation(
    metadata: Mapping[str, Any], expected: VoteExtraction | None, output: VoteExtraction | None
) -> FormType:
    """The type an evaluator judges against: the one the caller resolved (`metadata["form_type"]`,
    set by extract and the experiment runner), else a built-in the expected output or the output
    names, else `generic`."""
    given = metadata.get("form_type")
    if isinstance(given, FormType):
        return given
    for reading in (expected, output):
        form = builtin_form_type(reading.form.form_type) if reading is not None else None
        if form is not None:
            return form
    return GENERIC_FORM_TYPE
