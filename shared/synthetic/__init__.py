"""Synthetic election result forms with known truth, for tests and accuracy benchmarks."""

from shared.synthetic.forms import (
    DEVELOPMENT_LAYOUTS,
    HOLDOUT_LAYOUTS,
    Degradation,
    SyntheticForm,
    generate_form,
    generate_forms,
)

__all__ = [
    "DEVELOPMENT_LAYOUTS",
    "HOLDOUT_LAYOUTS",
    "Degradation",
    "SyntheticForm",
    "generate_form",
    "generate_forms",
]
