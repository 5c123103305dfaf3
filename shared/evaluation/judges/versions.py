"""What a stored judge is: `llm_judge` params and few-shot examples in immutable numbered versions,
with labels (`production`, `candidate`) that point at one; referenced as `name`, `name@n` or
`name@label` (a bare name: `production`, else the newest)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictStr

from shared.errors import InvalidField
from shared.models import DATASET_NAME_PATTERN, EXTRACTION_ID_PATTERN, WholeNumber

NAME = re.compile(DATASET_NAME_PATTERN)
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
LABELS = ("production", "candidate")
DEFAULT_LABEL = "production"
LATEST = "latest"
MAX_EXAMPLES = 20
JUDGE_FIELDS = ("rubric", "output", "classes", "pass_threshold", "pass_classes", "sees_image", "model")


class ExampleRequest(BaseModel):
    """A reviewer's verdict on one extraction, as a few-shot example."""

    model_config = ConfigDict(extra="forbid")

    extraction_id: StrictStr = Field(pattern=EXTRACTION_ID_PATTERN)
    verdict: Literal["pass", "fail"]
    note: StrictStr | None = Field(None, max_length=1000)


class JudgeVersionRequest(BaseModel):
    """POST /experiments/judges: a new version of `name` (the judge is made with its first)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(max_length=63)
    rubric: StrictStr
    output: Literal["score", "categorical", "boolean"] = "score"
    classes: list[StrictStr] = Field(default_factory=list, max_length=10)
    pass_threshold: WholeNumber = 4
    pass_classes: list[StrictStr] = Field(default_factory=list, max_length=10)
    sees_image: StrictBool = False
    model: StrictStr = Field("", max_length=80)
    examples: list[ExampleRequest] = Field(default_factory=list, max_length=MAX_EXAMPLES)

    def judge_params(self) -> dict[str, Any]:
        return self.model_dump(include=set(JUDGE_FIELDS))


class AlignRequest(BaseModel):
    """POST /experiments/judges/{name}/align."""

    model_config = ConfigDict(extra="forbid")

    from_version: StrictStr | WholeNumber | None = None  # a number or a label; absent: the bare name's
    seed: WholeNumber = Field(0, ge=0, le=2**31)
    holdout_fraction: StrictFloat = Field(0.3, gt=0, lt=1)
    max_examples: WholeNumber = Field(8, ge=1, le=MAX_EXAMPLES)


class LabelMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: StrictStr = Field(max_length=32)
    version: WholeNumber = Field(ge=1, le=999_999_999)


class StoredExample(BaseModel):
    """A few-shot example as stored: the verdict and the extraction it was given on (its output and
    image, copied when the version was made: a version never changes)."""

    extraction_id: str
    verdict: Literal["pass", "fail"]
    note: str | None = None
    output: dict[str, Any]
    image_uri: str | None = None
    image_content_type: str | None = None


class JudgeVersion(BaseModel):
    name: str
    version: int
    params: dict[str, Any]  # llm_judge's: rubric, output, classes, thresholds, sees_image, model
    examples: list[StoredExample] = Field(default_factory=list)
    from_version: int | None = None  # the version it was aligned from
    alignment: dict[str, Any] | None = None  # what the alignment measured on held-out decisions
    created_at: datetime
    created_by: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class JudgeHead(BaseModel):
    name: str
    latest: int
    labels: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class JudgeRef:
    name: str
    number: int | None = None
    label: str | None = None


def check_judge_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidField(
            "A judge's name is 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit.",
            details={"field": "name"},
        )
    return name


def parse_judge_ref(ref: Any, *, field_name: str = "judge") -> JudgeRef:
    """`name`, `name@3` or `name@label`; InvalidField (422) for anything else."""
    if not isinstance(ref, str) or ref.count("@") > 1 or not ref:
        raise InvalidField(
            f"{field_name} must be a judge name, name@version or name@label (e.g. sums@2, sums@production).",
            details={"field": field_name},
        )
    name, _, selector = ref.partition("@")
    if not NAME.fullmatch(name):
        raise InvalidField(
            f"{field_name} {ref[:100]!r} does not start with a judge name.", details={"field": field_name}
        )
    if "@" not in ref:
        return JudgeRef(name)
    if selector.isascii() and selector.isdigit() and len(selector) <= 9 and int(selector) >= 1:
        return JudgeRef(name, number=int(selector))
    if LABEL.fullmatch(selector):
        return JudgeRef(name, label=selector)
    raise InvalidField(
        f"{field_name} {ref[:100]!r}: after '@' comes a version number or a label (production, candidate).",
        details={"field": field_name},
    )
