"""What a prompt is: a named template in immutable numbered versions, with labels that point at one.

A reference (`prompt_version` anywhere in the API) is `name`, `name@3` or `name@label`; what is
stored is always the resolved `name@n`. Templates name their variables as `{{variable}}`; the
only variable the product fills is `reference_docs` (a dataset entry's reference documents, or
the text POST /extract was given). The form image is never a variable: it is its own part of the
request, before the text. A version's `model_settings` (temperature, max_output_tokens, top_p,
seed; never the model) apply whenever it runs: see `shared.prompts.model_settings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.errors import InvalidField, PayloadTooLarge
from shared.models import DATASET_NAME_PATTERN

NAME = re.compile(DATASET_NAME_PATTERN)  # the dataset names' rule
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
LABELS = ("production", "candidate")  # the labels a client may move
LATEST = "latest"  # a read-only label: always the newest version
DEFAULT_LABEL = "production"  # what a bare `name` means (the newest version while none is set)
REFERENCE_DOCS = "reference_docs"
KNOWN_VARIABLES = {REFERENCE_DOCS: "the reference documents: a dataset entry's reference_docs, or extract's"}
MAX_TEMPLATE_BYTES = 64 * 1024
MAX_REFERENCE_DOCS_CHARS = 32_000
_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Where a template that declares no {{reference_docs}} gets them when a request brings some.
_DOCS_SECTION = (
    "\n\nReference documents for this form (use them to check names and numbers; the image decides):\n"
    "{{reference_docs}}"
)


@dataclass(frozen=True)
class Prompt:
    """One resolved prompt version: what a model request carries."""

    name: str
    number: int
    template: str
    variables: tuple[str, ...] = ()
    model_settings: Mapping[str, Any] = field(default_factory=dict)  # applied under a request's params
    label: str | None = None  # the label it was resolved through, if any

    @property
    def version(self) -> str:
        """`name@n`: what records, runs and spans name."""
        return f"{self.name}@{self.number}"

    def effective_template(self, values: Mapping[str, str]) -> str:
        """The template as it is rendered with `values`: reference documents given to a template
        that declares none go after the instruction, under a fixed heading."""
        if values.get(REFERENCE_DOCS) and REFERENCE_DOCS not in self.variables:
            return self.template + _DOCS_SECTION
        return self.template

    def render(self, values: Mapping[str, str]) -> str:
        """The text sent to the model; a declared variable with no value renders empty."""
        return _PLACEHOLDER.sub(lambda found: values.get(found.group(1).strip(), ""), self.effective_template(values))

    @property
    def text(self) -> str:
        return self.render({})

    def annotation(self, values: Mapping[str, str]) -> dict[str, Any]:
        """The prompt as ddtrace's LLMObs prompt annotation takes it (template, variables, id,
        version; the reference documents as its RAG context)."""
        annotation: dict[str, Any] = {
            "id": self.name,
            "version": str(self.number),
            "template": self.effective_template(values),
            "variables": {name: value for name, value in values.items() if value},
            "rag_context_variables": [REFERENCE_DOCS],
            "tags": {"prompt_version": self.version},
        }
        if self.label:
            annotation["label"] = self.label
        return annotation


@dataclass(frozen=True)
class PromptRef:
    """A parsed reference: `name`, `name@3` or `name@label`."""

    name: str
    number: int | None = None
    label: str | None = None


class PromptVersion(BaseModel):
    """`prompts/{name}/versions/{n}`: written once, never changed."""

    name: str
    version: int
    template: str
    variables: list[str] = Field(default_factory=list)
    model_settings: dict[str, Any] = Field(default_factory=dict)
    template_sha256: str
    created_at: datetime
    created_by: str | None = None

    def prompt(self, label: str | None = None) -> Prompt:
        return Prompt(
            name=self.name,
            number=self.version,
            template=self.template,
            variables=tuple(self.variables),
            model_settings=self.model_settings,
            label=label,
        )


class PromptHead(BaseModel):
    """`prompts/{name}`: the newest version's number and the labels."""

    name: str
    latest: int
    labels: dict[str, int] = Field(default_factory=dict)
    label_moves: dict[str, dict[str, Any]] = Field(default_factory=dict)  # label -> {by, at, from}
    created_at: datetime
    updated_at: datetime


def check_prompt_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidField(
            "A prompt name is 1-63 characters: lowercase letters, digits, '_' and '-', starting with a letter "
            "or digit.",
            details={"field": "name"},
        )
    return name


def parse_ref(ref: Any, *, field_name: str = "prompt_version") -> PromptRef:
    """`name`, `name@3` or `name@label`; InvalidField (422) for anything else."""
    if not isinstance(ref, str) or ref.count("@") > 1:
        raise InvalidField(
            f"{field_name} must be a prompt name, name@version or name@label (e.g. prompt_b@2, prompt_b@production).",
            details={"field": field_name},
        )
    name, _, selector = ref.partition("@")
    if not NAME.fullmatch(name):
        raise InvalidField(
            f"{field_name} {ref[:100]!r} does not start with a prompt name (lowercase letters, digits, '_', '-').",
            details={"field": field_name},
        )
    if not selector and "@" not in ref:
        return PromptRef(name)
    if selector.isascii() and selector.isdigit() and len(selector) <= 9 and int(selector) >= 1:
        return PromptRef(name, number=int(selector))
    if LABEL.fullmatch(selector):
        return PromptRef(name, label=selector)
    raise InvalidField(
        f"{field_name} {ref[:100]!r}: after '@' comes a version number (1, 2, ...) or a label (production, candidate).",
        details={"field": field_name},
    )


def as_stored(ref: str) -> str:
    """The exact version a stored `prompt_version` names: `name@n` as it is; a bare name, stored
    before prompts had versions, is the text that ran then, which was seeded as its version 1."""
    return ref if "@" in ref else f"{ref}@1"


def check_template(template: Any, variables: Any) -> tuple[str, list[str]]:
    """The template and its declared variables, or the error a client needs: 413 over
    MAX_TEMPLATE_BYTES, 422 for an empty template, an undeclared or unused variable, `{{image}}`,
    or a variable the product does not fill."""
    if not isinstance(template, str) or not template.strip():
        raise InvalidField("template must be non-empty text.", details={"field": "template"})
    size = len(template.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        raise PayloadTooLarge(
            f"The template is {size} bytes; a template is at most {MAX_TEMPLATE_BYTES} bytes.",
            details={"field": "template", "limit_bytes": MAX_TEMPLATE_BYTES},
        )
    declared = list(variables or [])
    if len(set(declared)) != len(declared):
        raise InvalidField("Declare each variable once.", details={"field": "variables"})
    used = []
    for found in _PLACEHOLDER.finditer(template):
        name = found.group(1).strip()
        if not _VARIABLE_NAME.fullmatch(name):
            raise InvalidField(
                f"{found.group(0)[:80]!r} in the template is not a variable: write {{{{name}}}} with a name of "
                "letters, digits and '_'.",
                details={"field": "template"},
            )
        used.append(name)
    if "image" in used:
        raise InvalidField(
            "{{image}} is not a variable: the form image is sent as its own part, before the text.",
            details={"field": "template", "variable": "image"},
        )
    undeclared = sorted(set(used) - set(declared))
    if undeclared:
        raise InvalidField(
            f"The template uses undeclared variables: {', '.join(undeclared)}; declare them in variables.",
            details={"field": "template", "undeclared": undeclared},
        )
    unused = sorted(set(declared) - set(used))
    if unused:
        raise InvalidField(
            f"Declared variables the template never uses: {', '.join(unused)}.",
            details={"field": "variables", "unused": unused},
        )
    unknown = sorted(set(declared) - set(KNOWN_VARIABLES))
    if unknown:
        raise InvalidField(
            f"Nothing fills {', '.join(unknown)}: the product fills only {', '.join(KNOWN_VARIABLES)}.",
            details={"field": "variables", "known": KNOWN_VARIABLES},
        )
    return template, declared


def split_prompt_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A variant's params without the prompt's own (`reference_docs: true|false`), and that flag.

    The rest are the model's params, which its adapter validates.
    """
    if not isinstance(params, Mapping):
        raise InvalidField("params must be a JSON object.", details={"field": "params"})
    model_params = {name: value for name, value in params.items() if name != REFERENCE_DOCS}
    wanted = params.get(REFERENCE_DOCS, False)
    if not isinstance(wanted, bool):
        raise InvalidField(
            f"Param {REFERENCE_DOCS!r} must be true or false (true puts each entry's reference documents in the "
            "prompt).",
            details={"field": f"params.{REFERENCE_DOCS}"},
        )
    return model_params, wanted


def check_reference_docs(docs: str | None) -> str | None:
    if docs is not None and len(docs) > MAX_REFERENCE_DOCS_CHARS:
        raise InvalidField(
            f"reference_docs is at most {MAX_REFERENCE_DOCS_CHARS} characters.", details={"field": REFERENCE_DOCS}
        )
    return docs or None
