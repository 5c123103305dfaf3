"""Synthetic election result forms with known truth, for tests and accuracy benchmarks.

`generate_form`: the generic form in seven layouts; `render_form`: a paper of any built-in form
type (generic included), optionally with its arithmetic or its words made wrong on purpose.
"""

from shared.synthetic.forms import (
    DEVELOPMENT_LAYOUTS,
    HOLDOUT_LAYOUTS,
    Degradation,
    SyntheticForm,
    generate_form,
    generate_forms,
)
from shared.synthetic.number_words import number_to_words
from shared.synthetic.typed_forms import RenderedForm, render_form

__all__ = [
    "DEVELOPMENT_LAYOUTS",
    "HOLDOUT_LAYOUTS",
    "Degradation",
    "SyntheticForm",
    "generate_form",
    "generate_forms",
    "number_to_words",
    "RenderedForm",
    "render_form",
]
