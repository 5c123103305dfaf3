"""Prompt references, template checks, rendering and the span annotation (shared/prompts/versions.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import InvalidField, PayloadTooLarge
from shared.models import ExtractionRecord, RunRecord
from shared.prompts import BUILTIN_PROMPTS, Prompt, as_stored, builtin_prompt, parse_ref, split_prompt_params
from shared.prompts.versions import PromptRef, check_template


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("prompt_a", PromptRef("prompt_a")),
        ("prompt_b@3", PromptRef("prompt_b", number=3)),
        ("prompt_b@production", PromptRef("prompt_b", label="production")),
        ("prompt_b@latest", PromptRef("prompt_b", label="latest")),
    ],
)
def test_references_parse(ref, parsed):
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize(
    "ref", ["", "Prompt_A", "prompt_b@", "prompt_b@0", "prompt_b@-1", "a@b@c", "prompt_b@Prod", "x@1234567890", "@1", 3]
)
def test_bad_references_are_invalid_fields(ref):
    with pytest.raises(InvalidField) as raised:
        parse_ref(ref)
    assert raised.value.details == {"field": "prompt_version"}


def test_a_declared_variable_renders_where_the_template_puts_it():
    template, declared = check_template("Docs: {{ reference_docs }}.\nRead.", ["reference_docs"])
    prompt = Prompt(name="p", number=2, template=template, variables=tuple(declared))

    assert prompt.version == "p@2"
    assert prompt.render({"reference_docs": "A and B"}) == "Docs: A and B.\nRead."
    assert prompt.render({}) == "Docs: .\nRead."


def test_a_template_without_the_variable_gets_the_docs_after_the_instruction_and_says_so():
    prompt = builtin_prompt("prompt_a")

    rendered = prompt.render({"reference_docs": "Tally: 12"})
    annotation = prompt.annotation({"reference_docs": "Tally: 12"})

    assert prompt.text == BUILTIN_PROMPTS["prompt_a"]  # without docs, the text that always ran
    assert rendered.startswith(BUILTIN_PROMPTS["prompt_a"] + "\n\nReference documents") and rendered.endswith(
        "\nTally: 12"
    )
    assert annotation["template"].endswith("{{reference_docs}}")
    assert annotation["variables"] == {"reference_docs": "Tally: 12"}
    assert annotation["rag_context_variables"] == ["reference_docs"]
    assert (annotation["id"], annotation["version"]) == ("prompt_a", "1")


def test_a_substituted_value_is_not_read_as_a_template():
    prompt = Prompt(name="p", number=1, template="{{reference_docs}}", variables=("reference_docs",))

    assert prompt.render({"reference_docs": "{{reference_docs}} {{x}}"}) == "{{reference_docs}} {{x}}"


@pytest.mark.parametrize(
    ("template", "variables", "error"),
    [
        ("Read {{language}}.", [], InvalidField),
        ("Read {{image}}.", ["image"], InvalidField),
        ("Read.", ["reference_docs"], InvalidField),
        ("Read {{language}}.", ["language"], InvalidField),
        ("Read {{two words}}.", [], InvalidField),
        ("Read {{reference_docs}}.", ["reference_docs", "reference_docs"], InvalidField),
        ("   ", [], InvalidField),
        ("é" * (32 * 1024 + 1), [], PayloadTooLarge),  # 2 bytes each: over 64 KB in UTF-8
    ],
)
def test_bad_templates_are_refused(template, variables, error):
    with pytest.raises(error):
        check_template(template, variables)


def test_single_braces_are_text_not_variables():
    # The built-in prompts describe the JSON answer with single braces.
    assert check_template(BUILTIN_PROMPTS["prompt_b"], []) == (BUILTIN_PROMPTS["prompt_b"], [])


def test_the_reference_docs_param_is_split_from_the_models_params():
    assert split_prompt_params({"temperature": 0, "reference_docs": True}) == ({"temperature": 0}, True)
    assert split_prompt_params({"deskew": False}) == ({"deskew": False}, False)
    with pytest.raises(InvalidField):
        split_prompt_params({"reference_docs": "yes"})


def test_records_and_runs_from_before_versioned_prompts_still_read():
    now = datetime.now(UTC)
    record = ExtractionRecord.model_validate(
        {
            "extraction_id": "old",
            "model": "tesseract",
            "prompt_version": "prompt_a",
            "status": "succeeded",
            "image_uri": "gs://b/images/sha256/x",
            "image_sha256": "0" * 64,
            "image_content_type": "image/png",
            "latency_ms": 1.0,
            "created_at": now,
        }
    )
    run = RunRecord.model_validate(
        {"run_id": "r", "entry_id": "e", "variant": "v", "repetition": 0, "status": "failed", "latency_ms": 1.0}
        | {"finished_at": now}
    )

    assert record.prompt_version == "prompt_a" and record.reference_docs is None
    assert run.prompt_version is None and run.rag_enabled is False
    # An old experiment resumed runs the text it ran then (version 1), whatever the label says now.
    assert as_stored("prompt_a") == "prompt_a@1" and as_stored("prompt_b@3") == "prompt_b@3"
