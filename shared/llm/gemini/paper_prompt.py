"""The prompt text Gemini gets: the prompt template's text, then what the paper is.

The template (`ModelRequest.text`) is the same for every paper; the section after it names the
form type's own statistics with their printed labels, so the model can find each printed row
and put its number under the key the response schema asks for. `generic` gets no section: its
text stays exactly the template's (recorded prompts and their hashes rely on it).
"""

from __future__ import annotations

from shared.form_types.model import GENERIC, FormType
from shared.llm.base import ModelRequest
from shared.llm.gemini.answer_schema import cached_per_form_type

_LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese", "sw": "Swahili"}


def prompt_text(request: ModelRequest) -> str:
    """The instruction sent with the image: the rendered template, then the paper's section."""
    if request.form_type.name == GENERIC:
        return request.text
    return f"{request.text}\n\n{form_type_section(request.form_type)}"


@cached_per_form_type
def form_type_section(form_type: FormType) -> str:
    """What the paper is and where its numbers go, built from the form type."""
    language = _LANGUAGE_NAMES.get(form_type.language, form_type.language)
    lines = [
        f"The paper is a {form_type.title}, printed in {language}.",
        "Its statistics go in `statistics` by key (this paper has no ballot_stats); each is the number "
        "printed beside its label, listed here in the paper's order:",
        *(f'- {statistic.key}: "{statistic.label}"' for statistic in form_type.statistics),
    ]
    if form_type.figures_in_words:
        lines.append(
            "Counts are also written in words: copy them into vote_count_words exactly as written "
            "(the figures go into vote_count)."
        )
    lines.append("Use null for a blank row or anything you cannot read; NIL or a dash is 0.")
    return "\n".join(lines)
