"""A prompt version's model settings: checked at creation, applied under a request's params."""

from __future__ import annotations

import pytest

from shared.errors import InvalidField
from shared.llm import params_with_prompt_settings
from shared.llm.tesseract import TesseractModel
from shared.prompts import Prompt
from shared.prompts.model_settings import applicable_settings, check_model_settings


def test_a_legacy_versions_unknown_keys_and_bad_values_are_never_applied():
    stored = {"model": "gemini-2.5-pro", "temperature": "hot", "top_p": 0.4, "max_output_tokens": None}

    assert applicable_settings(stored) == {"top_p": 0.4}


def test_a_model_that_does_not_sample_takes_none_of_them():
    prompt = Prompt(name="tuned", number=1, template="Read.", model_settings={"temperature": 0.3})

    assert params_with_prompt_settings(TesseractModel(), prompt, {"deskew": False}) == {
        "deskew": False,
        "remove_lines": True,
    }


@pytest.mark.parametrize(
    "settings", [[], "temperature=0.2", {"model": "gemini-2.5-pro"}, {"top_k": 3}, {"seed": None, "temperature": 0.2}]
)
def test_creation_refuses_what_a_prompt_cannot_set(settings):
    with pytest.raises(InvalidField):
        check_model_settings(settings)
