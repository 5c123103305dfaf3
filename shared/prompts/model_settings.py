"""A prompt version's model settings: the generation settings its text was written for.

They are applied whenever that version runs (POST /extract, experiment runs), under the params
the extract request or the experiment variant gives: a param named there wins over the prompt's.

What a prompt may set is `GenerationSettings`: `temperature`, `max_output_tokens`, `top_p` and
`seed`, with the same bounds the Gemini adapter checks its params with (it takes this class as
its params). Anything else is refused when the version is created (422, naming the key):

- `model`: a prompt never chooses the model. The extract request or the experiment variant names
  it, and an experiment compares prompts on one model or models on one prompt; a prompt that
  switched the model would make a variant's `model` say something that did not run.
- anything else (safety settings, tools, system instructions, response schema, ...): the product
  owns the request's shape (the structured answer in the paper's form type), so a prompt cannot
  change it.

A model that does not sample (tesseract) takes none of these settings: they are not applied to
it. A version stored before these checks existed may hold other keys or bad values: only good
settings of the kinds above are ever applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import InvalidField


class GenerationSettings(BaseModel):
    """The generation settings a prompt version may carry and a sampling model's variant may set;
    unset ones keep the model's defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    temperature: float | None = Field(None, ge=0, le=2)
    max_output_tokens: int | None = Field(None, ge=1, le=65536)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=-(2**31), le=2**31 - 1)


# What each setting must be, in the words of an error sentence.
REQUIREMENTS = {
    "temperature": "a number from 0 to 2",
    "max_output_tokens": "an integer from 1 to 65536",
    "top_p": "a number from 0 to 1",
    "seed": "a 32-bit integer",
}
_WHY_REFUSED = {
    "model": "a prompt never chooses the model: the extract request or the experiment variant names it",
}


def setting_problems(
    settings: Mapping[str, Any], *, owner: str, field: str, why_unknown: Mapping[str, str] | None = None
) -> list[str]:
    """A sentence for each setting `GenerationSettings` refuses (`owner` says whose: `Param`,
    `Model setting`; `why_unknown` why some unknown keys are refused); none when all are good."""
    try:
        GenerationSettings.model_validate(dict(settings))
    except ValidationError as error:
        sentences = []
        for problem in error.errors(include_url=False, include_input=False):
            name = str(problem["loc"][0]) if problem["loc"] else field
            if problem["type"] == "extra_forbidden":
                why = (why_unknown or {}).get(name, f"the accepted ones are {', '.join(REQUIREMENTS)}")
                sentences.append(f"Unknown {owner.lower()} {name!r}: {why}.")
            else:
                needed = REQUIREMENTS.get(name, "valid")
                sentences.append(f"{owner} {name!r} must be {needed} (got {settings.get(name)!r}).")
        return sentences
    return []


def check_model_settings(settings: Any) -> dict[str, Any]:
    """A new version's model settings, or InvalidField (422) with a sentence for each bad key."""
    if not isinstance(settings, Mapping):
        raise InvalidField("model_settings must be a JSON object.", details={"field": "model_settings"})
    problems = setting_problems(settings, owner="Model setting", field="model_settings", why_unknown=_WHY_REFUSED)
    # A null would be stored as a setting that is not there: leave the key out instead.
    problems += [f"Model setting {name!r} must be {REQUIREMENTS[name]} (got null)." for name, value in settings.items()
                 if value is None and name in REQUIREMENTS]  # fmt: skip
    if problems:
        raise InvalidField(" ".join(problems), details={"field": "model_settings", "accepted": REQUIREMENTS})
    return dict(settings)


def applicable_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a stored version that are applied: a version stored before these checks
    may hold other keys or bad values, which are left out rather than failing every reading."""
    return {
        name: value
        for name, value in settings.items()
        if name in REQUIREMENTS and value is not None and not setting_problems({name: value}, owner="", field="")
    }
