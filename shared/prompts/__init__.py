"""Prompts as data: named templates in immutable numbered versions, with movable labels.

A `prompt_version` anywhere in the API is `name`, `name@3` or `name@label`; `PromptRegistry.resolve`
turns it into the exact version (`Prompt.version` is `name@n`, what records and runs store). The
registry receives its store: the instance's registry, on Firestore, is `shared.wiring.prompts`'.
"""

from __future__ import annotations

from shared.prompts.builtin import BUILTIN_PROMPTS, CROSS_CHECK_TEMPLATE
from shared.prompts.registry import PromptRegistry, builtin_prompt
from shared.prompts.versions import (
    LABELS,
    MAX_REFERENCE_DOCS_CHARS,
    MAX_TEMPLATE_BYTES,
    REFERENCE_DOCS,
    Prompt,
    PromptHead,
    PromptVersion,
    as_stored,
    check_reference_docs,
    parse_ref,
    split_prompt_params,
)

# The cross check's second reading: fixed in code, its version named by the evaluator's version.
CROSS_CHECK_PROMPT = Prompt(name="cross_check", number=1, template=CROSS_CHECK_TEMPLATE)

__all__ = [
    "BUILTIN_PROMPTS",
    "CROSS_CHECK_PROMPT",
    "LABELS",
    "MAX_REFERENCE_DOCS_CHARS",
    "MAX_TEMPLATE_BYTES",
    "REFERENCE_DOCS",
    "Prompt",
    "PromptHead",
    "PromptRegistry",
    "PromptVersion",
    "as_stored",
    "builtin_prompt",
    "check_reference_docs",
    "parse_ref",
    "split_prompt_params",
]
