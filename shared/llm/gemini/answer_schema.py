"""The answer Gemini is asked for, shaped by the paper's form type.

`VoteExtraction.statistics` is an open dict, and google-genai refuses `additionalProperties` in
API-key mode, so the response schema is not VoteExtraction itself but a model built from the
form type: `statistics` has exactly the type's keys (integer or null, each described by its
printed label, in the paper's order), rows carry `vote_count_words` only where the paper writes
counts in words, and `generic` asks for `ballot_stats` exactly as before form types existed.
Each count also has an optional box where it is printed, in Gemini's own convention for boxes:
`box_2d`, [ymin, xmin, ymax, xmax] scaled to 0-1000 of the image as sent. A row carries its
count's box as `vote_count_box_2d`; the statistics' boxes are `statistics_box_2d`, by the same
keys. `shared.llm.gemini.answer_boxes` takes them out of the answer (which then parses as a
VoteExtraction, as before) into the stored convention.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model

from shared.form_types.model import GENERIC, FormType
from shared.models import BallotStats, FormInfo

T = TypeVar("T")
_MAX_CACHED_TYPES = 256
_FORBID = ConfigDict(extra="forbid")
# VoteExtraction's docstring before form types: the schema's description, as Gemini always got it.
_EXTRACTION_DESCRIPTION = "What a model reads off one constituency's result form."
_WORDS_DESCRIPTION = "The count as the paper writes it in words (e.g. TWO HUNDRED AND THREE, NIL); null if none."
ROW_BOX_FIELD = "vote_count_box_2d"
STATISTICS_BOX_FIELD = "statistics_box_2d"
_BOX_DESCRIPTION = (
    "Where {what} is printed on the image: its bounding box [ymin, xmin, ymax, xmax], each normalized to "
    "0-1000; null if it is not on the image."
)
_Box2d = Annotated[list[StrictInt], Field(min_length=4, max_length=4)]


def cached_per_form_type(build: Callable[[FormType], T]) -> Callable[[FormType], T]:
    """`build` run once per form type ref (`name@n`), for the request pieces a type shapes.

    A ref names one immutable version, but two stores (tests, local runs) may hold different
    papers under one user-made ref, so a hit also has to be the same type.
    """
    built: dict[str, tuple[FormType, T]] = {}

    @wraps(build)
    def cached(form_type: FormType) -> T:
        held = built.get(form_type.ref)
        if held is not None and (held[0] is form_type or held[0] == form_type):
            return held[1]
        value = build(form_type)
        if len(built) >= _MAX_CACHED_TYPES:
            built.clear()
        built[form_type.ref] = (form_type, value)
        return value

    return cached


@cached_per_form_type
def answer_model(form_type: FormType) -> type[BaseModel]:
    """The pydantic model google-genai turns into the response schema for `form_type`."""
    row = _row_model(words=form_type.figures_in_words)
    fields: dict[str, Any] = {
        "form": (FormInfo, Field(default_factory=FormInfo)),
        "vote_results": (list[row], Field(default_factory=list)),  # type: ignore[valid-type]
    }
    if form_type.name == GENERIC:
        fields["ballot_stats"] = (BallotStats, Field(default_factory=BallotStats))
        keys = list(BallotStats.model_fields)
    else:
        fields["statistics"] = (_statistics_model(form_type), ...)
        keys = list(form_type.keys)
    fields[STATISTICS_BOX_FIELD] = (_statistics_boxes_model(keys) | None, None)
    return create_model("VoteExtraction", __config__=_FORBID, __doc__=_EXTRACTION_DESCRIPTION, **fields)


def _row_model(*, words: bool) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "candidate_name": (str, ...),
        "party": (str | None, None),
        "vote_count": (StrictInt | None, None),
    }
    if words:
        fields["vote_count_words"] = (str | None, Field(None, max_length=200, description=_WORDS_DESCRIPTION))
    fields[ROW_BOX_FIELD] = (_Box2d | None, Field(None, description=_BOX_DESCRIPTION.format(what="vote_count")))
    return create_model("VoteResult", __config__=_FORBID, **fields)


def _statistics_boxes_model(keys: list[str]) -> type[BaseModel]:
    # Named by position with the key as alias, as `_statistics_model` does.
    fields: dict[str, Any] = {
        f"box_{position}": (
            _Box2d | None,
            Field(None, alias=key, title=key, description=_BOX_DESCRIPTION.format(what=f"the figure of {key}")),
        )
        for position, key in enumerate(keys)
    }
    return create_model("StatisticsBoxes", __config__=_FORBID, **fields)


def _statistics_model(form_type: FormType) -> type[BaseModel]:
    # Fields are named by position and carry the key as their alias: a user's key may be any
    # name (`copy`, `schema`), which as a field name would shadow BaseModel's own attributes.
    fields: dict[str, Any] = {
        f"statistic_{position}": (
            StrictInt | None,
            Field(alias=statistic.key, title=statistic.key, description=statistic.label),
        )
        for position, statistic in enumerate(form_type.statistics)
    }
    return create_model("Statistics", __config__=_FORBID, **fields)
