"""Which form type a golden entry is, and its expected output checked against it before it is stored.

An expected output a client writes names its paper in `form.form_type` (`name` or `name@n`; free
text written before form types, like "Form 34A", is `generic`): a name no type has is a 422
naming it. An entry made from an extraction is the type the extraction was read as, unless a
person re-typed it in a correction. Unknown statistics, and words where the paper has no words
column, are refused by `validation.check_expected`. What the paper's own arithmetic says is not
checked here: that is the entry's `checks`, where a failing rule is information.
"""

from __future__ import annotations

from typing import Protocol

from shared.form_types.model import FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE, builtin_form_type, declared_form_type
from shared.form_types.validation import check_expected
from shared.models import VoteExtraction


class FormTypeResolver(Protocol):
    """Resolves a ref a client wrote: InvalidField (422) naming `field` when no type has it."""

    def resolve(self, ref: str | None, *, field: str = "form_type") -> FormType: ...


def typed_expected_output(
    expected: VoteExtraction, form_types: FormTypeResolver, *, field: str, ref: str | None = None
) -> FormType:
    """The form type of `expected` (`ref` when the caller knows it, else the one `expected`
    names), once it is known to fit it: 422 otherwise, naming `field` and why."""
    form_type = form_types.resolve(ref or declared_form_type(expected), field=f"{field}.form.form_type")
    check_expected(expected, form_type, field=field)
    return form_type


def entry_form_type_ref(stored: str | None, expected: VoteExtraction) -> str:
    """The type a golden entry is: the `name@n` it stored, or for an entry made before form types,
    the built-in its expected output names, else generic (its free text was a printed title)."""
    if stored is not None:
        return stored
    return (builtin_form_type(declared_form_type(expected)) or GENERIC_FORM_TYPE).ref
