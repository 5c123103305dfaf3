"""The one interface every extraction model implements (ports and adapters)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.form_types.model import FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE
from shared.models import FieldBoxes, TokenUsage, VoteExtraction
from shared.prompts import Prompt
from shared.prompts.model_settings import applicable_settings


@dataclass(frozen=True)
class ModelRequest:
    """One image to read, with the prompt, its variables, the variant's parameters and the form
    type the paper is (its statistics' printed labels and words column shape what is asked)."""

    image: bytes
    content_type: str
    prompt: Prompt
    params: Mapping[str, Any] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)  # the template's values (reference_docs)
    form_type: FormType = GENERIC_FORM_TYPE

    @property
    def text(self) -> str:
        """The prompt's text as the model gets it: the template rendered with `variables`."""
        return self.prompt.render(self.variables)


@dataclass(frozen=True)
class ModelResponse:
    """A model's answer: the parsed extraction, token usage, the raw text it produced, and where
    on the paper it read each count (`shared.models.FieldBoxes`; empty when it did not say)."""

    extraction: VoteExtraction
    usage: TokenUsage
    raw_output: str
    boxes: FieldBoxes = field(default_factory=dict)


class ModelClient(Protocol):
    """An extraction model. `extract` raises a `shared.errors.ModelError` subclass on failure.

    Each call must produce exactly one LLM Observability span of kind llm (an integration's
    or an explicit one), so evaluations can be joined on it.
    """

    model_name: str
    provider: str
    takes_generation_settings: bool  # a sampling model: a prompt version's model settings apply to it

    def validate_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Return the params with defaults filled in; raise InvalidField for unknown or bad ones."""
        ...

    def extract(self, request: ModelRequest) -> ModelResponse: ...

    async def extract_async(self, request: ModelRequest) -> ModelResponse: ...


def params_with_prompt_settings(model: ModelClient, prompt: Prompt, params: Mapping[str, Any]) -> dict[str, Any]:
    """The params a reading runs with: the prompt version's model settings (for a model that takes
    them), under the extract request's or the variant's own params, which win; validated by the model."""
    from_prompt = applicable_settings(prompt.model_settings) if model.takes_generation_settings else {}
    return model.validate_params({**from_prompt, **params})
