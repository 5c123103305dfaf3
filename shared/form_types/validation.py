"""Data checked against its form type before it is stored: an expected output, a correction's
statistics, a new type's name.

An unknown statistic key is a client's mistake (InvalidField, 422) named in the sentence and in
`details`, so a caller fixes it in one go; nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.errors import Conflict, InvalidField
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.model import FormType, FormTypeDraft
from shared.models import VoteExtraction

_NAMED = 10  # keys named in a sentence; `details` holds them all


def check_statistic_keys(keys: Iterable[str], form_type: FormType, *, field: str) -> None:
    """InvalidField naming every key of `keys` that is not a statistic of `form_type`."""
    known = set(form_type.keys)
    unknown = sorted({key for key in keys if key not in known})
    if not unknown:
        return
    shown = ", ".join(key[:60] for key in unknown[:_NAMED]) + (" ..." if len(unknown) > _NAMED else "")
    raise InvalidField(
        f"{field} names {shown}, not a statistic of form type {form_type.ref} "
        f"(its statistics: {', '.join(form_type.keys)}).",
        details={"field": field, "unknown": unknown, "form_type": form_type.ref, "statistics": form_type.keys},
    )


def check_expected(expected: VoteExtraction | None, form_type: FormType, *, field: str = "expected") -> None:
    """An expected output speaks only of its type's statistics: InvalidField (422) naming any
    other key, in `statistics` or a filled `ballot_stats` field (`generic`'s three), or the rows
    given words on a type without a words column."""
    if expected is None:
        return
    check_statistic_keys(expected.statistics, form_type, field=f"{field}.statistics")
    ballot = [key for key, value in expected.ballot_stats.model_dump().items() if value is not None]
    check_statistic_keys(ballot, form_type, field=f"{field}.ballot_stats")
    worded = [row.candidate_name for row in expected.vote_results if row.vote_count_words]
    if worded and not form_type.figures_in_words:
        raise InvalidField(
            f"{field}: form type {form_type.ref} has no counts in words, yet vote_count_words is set "
            f"({', '.join(name[:60] for name in worded[:5])}).",
            details={"field": f"{field}.vote_results", "form_type": form_type.ref, "rows": worded[:20]},
        )


def check_new_form_type(draft: FormTypeDraft) -> None:
    """A built-in's name is not open to new versions: clients and checks rely on its keys, and a
    bare `generic` (the default) would change meaning for every caller. Conflict (409)."""
    if draft.name in BUILTIN_FORM_TYPES:
        raise Conflict(
            f"{draft.name!r} is a built-in form type, fixed as version 1 (clients and checks rely on its keys); "
            f"create your own type under another name, e.g. {draft.name}_custom.",
            details={"name": draft.name, "builtin": sorted(BUILTIN_FORM_TYPES)},
        )
