"""An expected output checked against its form type before it enters golden data.

An expected output names its paper in `form.form_type` (`name` or `name@n`; free text written
before form types, like "Form 34A", is `generic`). A name no type has, or a statistic the type
does not print, is the client's mistake: a 422 naming it, so nothing half-typed is stored.
What the paper's own arithmetic says is not checked here: that is the entry's `checks`.
"""

from __future__ import annotations

from typing import Protocol

from shared.errors import InvalidField
from shared.form_types.model import FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE, builtin_form_type, declared_form_type
from shared.models import VoteExtraction


class FormTypeResolver(Protocol):
    """Resolves a ref a client wrote: InvalidField (422) naming `field` when no type has it."""

    def resolve(self, ref: str | None, *, field: str = "form_type") -> FormType: ...


def expected_form_type(expected: VoteExtraction, form_types: FormTypeResolver, *, field: str) -> FormType:
    """The registered type `expected` names; 422 naming `{field}.form.form_type` when unknown."""
    return form_types.resolve(declared_form_type(expected), field=f"{field}.form.form_type")


def unknown_statistics(expected: VoteExtraction, form_type: FormType) -> list[str]:
    """The statistics `expected` states that `form_type` does not print, in the order given
    (`ballot_stats` counts only where a value is set: its empty fields are just the default)."""
    keys = set(form_type.keys)
    unknown = [key for key in expected.statistics if key not in keys]
    unknown += [
        key
        for key, value in expected.ballot_stats.model_dump().items()
        if value is not None and key not in keys and key not in unknown
    ]
    return unknown


def check_expected_output(expected: VoteExtraction, form_type: FormType, *, field: str) -> None:
    """Raise InvalidField (422) naming each statistic `form_type` lacks, or the words a type
    without a words column was given; return quietly otherwise."""
    unknown = unknown_statistics(expected, form_type)
    if unknown:
        raise InvalidField(
            f"{field}: {', '.join(repr(k) for k in unknown)} "
            f"{'is not a statistic' if len(unknown) == 1 else 'are not statistics'} of form type "
            f"{form_type.ref} (its statistics: {', '.join(form_type.keys)}).",
            details={
                "field": f"{field}.statistics",
                "unknown_keys": unknown,
                "form_type": form_type.ref,
                "keys": form_type.keys,
            },
        )
    if not form_type.figures_in_words:
        worded = [row.candidate_name for row in expected.vote_results if row.vote_count_words]
        if worded:
            raise InvalidField(
                f"{field}: form type {form_type.ref} has no counts in words, yet vote_count_words is set "
                f"({', '.join(worded[:5])}).",
                details={"field": f"{field}.vote_results", "form_type": form_type.ref, "rows": worded[:20]},
            )


def typed_expected_output(expected: VoteExtraction, form_types: FormTypeResolver, *, field: str) -> FormType:
    """The form type of `expected`, once it is known to fit it (422 otherwise, naming why)."""
    form_type = expected_form_type(expected, form_types, field=field)
    check_expected_output(expected, form_type, field=field)
    return form_type


def entry_form_type_ref(stored: str | None, expected: VoteExtraction) -> str:
    """The type a golden entry is: the `name@n` it stored, or for an entry made before form types,
    the built-in its expected output names, else generic (its free text was a printed title)."""
    if stored is not None:
        return stored
    return (builtin_form_type(declared_form_type(expected)) or GENERIC_FORM_TYPE).ref
