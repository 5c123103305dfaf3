"""A form type: what one kind of result paper carries (its statistics, words column, arithmetic).

Versions are immutable, like prompts: `name@n` always means the same paper. A type is validated
whole when it is made (keys unique, every rule parsed and naming only the type's keys), so a
stored type never holds a rule that cannot run.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, field_validator, model_validator

from shared.form_types.rules import KEY_PATTERN, Rule, RuleError, parse_rule

FORM_TYPE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
# `name` or `name@n`, as a request, a variant or an expected output names a type.
FORM_TYPE_REF_PATTERN = r"^[a-z][a-z0-9_]{0,39}(@[1-9][0-9]{0,5})?$"
GENERIC = "generic"
MAX_STATISTICS = 40
MAX_RULES = 30
# Printed text (labels, titles): no control characters, so nothing can forge a log line or a cell.
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f-\x9f]*$")


def _printable(text: str | None) -> str | None:
    if text is not None and not _PRINTABLE.match(text):
        raise ValueError("must not contain control characters")
    return text


class Statistic(BaseModel):
    """One number the paper prints besides the candidate rows: a stable key and its printed label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: StrictStr = Field(pattern=f"^{KEY_PATTERN}$")
    label: StrictStr = Field(min_length=1, max_length=200)

    _label_printable = field_validator("label")(_printable)


class RuleSpec(BaseModel):
    """One rule as stored: its id, its text (see `rules`), and whether failing it is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: StrictStr = Field(pattern=f"^{KEY_PATTERN}$")
    expr: StrictStr = Field(min_length=1, max_length=300)
    severity: Literal["error", "warning"] = "error"
    description: StrictStr | None = Field(None, max_length=300)

    _description_printable = field_validator("description")(_printable)


class FormTypeDraft(BaseModel):
    """A form type as a client sends it to be stored (POST /extract/form-types): no version yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(pattern=FORM_TYPE_NAME_PATTERN)
    title: StrictStr = Field(min_length=1, max_length=200)
    country: StrictStr | None = Field(None, pattern=r"^[A-Z]{2}$")
    language: StrictStr = Field("en", pattern=r"^[a-z]{2}$")
    statistics: list[Statistic] = Field(min_length=1, max_length=MAX_STATISTICS)
    figures_in_words: StrictBool = False
    rules: list[RuleSpec] = Field(default_factory=list, max_length=MAX_RULES)

    _title_printable = field_validator("title")(_printable)

    @model_validator(mode="after")
    def _rules_speak_of_the_statistics(self) -> FormTypeDraft:
        keys = [s.key for s in self.statistics]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"duplicate statistic key {', '.join(duplicates)}")
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate rule id {', '.join(sorted({i for i in ids if ids.count(i) > 1}))}")
        for spec in self.rules:
            try:
                rule = parse_rule(spec.expr)
            except RuleError as error:
                raise ValueError(f"rule {spec.id}: {error}") from None
            unknown = sorted(rule.keys - set(keys))
            if unknown:
                raise ValueError(f"rule {spec.id} names {', '.join(unknown)}, not a statistic of this form type")
        return self


class FormType(FormTypeDraft):
    """A stored form type version (`name@version`)."""

    version: int = Field(ge=1)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.statistics]

    def label(self, key: str) -> str:
        return next((s.label for s in self.statistics if s.key == key), key)

    @cached_property
    def parsed_rules(self) -> list[tuple[RuleSpec, Rule]]:
        return [(spec, parse_rule(spec.expr)) for spec in self.rules]

    @classmethod
    def from_draft(cls, draft: FormTypeDraft, version: int) -> FormType:
        return cls(**draft.model_dump(), version=version)
