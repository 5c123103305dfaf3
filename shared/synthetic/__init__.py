"""Synthetic election result forms with known truth, for tests and accuracy benchmarks.

`generate_form`: the generic form in seven layouts; `render_form`: a paper of any built-in form
type (generic included), optionally with its arithmetic or its words made wrong on purpose.
"""

from typing import TYPE_CHECKING, Any

from shared.synthetic.forms import (
    DEVELOPMENT_LAYOUTS,
    HOLDOUT_LAYOUTS,
    Degradation,
    SyntheticForm,
    generate_form,
    generate_forms,
)
from shared.synthetic.number_words import number_to_words

if TYPE_CHECKING:
    from shared.synthetic.typed_forms import RenderedForm, render_form


def __getattr__(name: str) -> Any:
    # Typed papers need shared.form_types, which the console is not shipped with (it only uses
    # generate_form): they are imported when first asked for.
    if name in ("RenderedForm", "render_form"):
        from shared.synthetic import typed_forms

        return getattr(typed_forms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
