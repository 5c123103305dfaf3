"""An experiment's cost estimate before any run: list prices times the tokens runs are assumed to use.

A run's model call is assumed to use ESTIMATED_USAGE (a form image and the prompt) and, for a
variant that puts the entries' reference documents in the prompt (`params.reference_docs: true`),
the tokens of the entry's documents besides. Each evaluator that calls a priced model (a judge)
adds its own estimate per run, which counts the documents it quotes from the entry. Text is
counted at about `CHARS_PER_TOKEN` characters a token. A model missing from the price table (a
new Gemini id) is counted as free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from shared.config import Settings
from shared.evaluation import create_evaluator
from shared.evaluation.base import Evaluator
from shared.llm.pricing import estimated_cost_usd, estimated_tokens
from shared.models import TokenUsage, Variant
from shared.prompts import REFERENCE_DOCS

# What one call is assumed to use when estimating cost before any run (a form image + the prompt).
ESTIMATED_USAGE = TokenUsage(input_tokens=1_300, output_tokens=350, total_tokens=1_650)


def priced_evaluators(specs: list[dict[str, Any]], settings: Settings) -> list[Evaluator]:
    """The evaluators that call a priced model (the judges): the only ones an estimate counts."""
    evaluators = [create_evaluator(spec["name"], spec["params"]) for spec in specs]
    return [evaluator for evaluator in evaluators if evaluator.estimated_usage(settings) is not None]


def evaluation_cost_per_run_usd(
    specs: list[dict[str, Any]], settings: Settings, *, reference_docs_chars: int = 0
) -> float:
    """What the evaluators are assumed to spend on models for one run of an entry whose reference
    documents are `reference_docs_chars` long (the judges' calls)."""
    return _judges_cost_usd(priced_evaluators(specs, settings), settings, reference_docs_chars)


def _judges_cost_usd(judges: list[Evaluator], settings: Settings, reference_docs_chars: int) -> float:
    cost = 0.0
    for judge in judges:
        usage = judge.estimated_usage(settings, reference_docs_chars=reference_docs_chars)
        if usage is not None:
            cost += estimated_cost_usd(*usage) or 0.0
    return cost


def needs_reference_docs(variants: Sequence[Variant], specs: list[dict[str, Any]], settings: Settings) -> bool:
    """Whether the entries' reference documents change the estimate (so are worth reading)."""
    return any(variant.params.get(REFERENCE_DOCS) for variant in variants) or bool(priced_evaluators(specs, settings))


def estimated_experiment_cost_usd(
    variants: Sequence[Variant],
    specs: list[dict[str, Any]],
    *,
    reference_docs_chars: Sequence[int],
    repetitions: int,
    settings: Settings,
) -> float:
    """The estimate for every run: each variant over each entry (`reference_docs_chars`, one length
    per entry), `repetitions` times, with the evaluators' calls."""
    entries = len(reference_docs_chars)
    docs_tokens = sum(estimated_tokens(chars) for chars in reference_docs_chars)
    models = 0.0
    for variant in variants:
        input_tokens = ESTIMATED_USAGE.input_tokens * entries
        if variant.params.get(REFERENCE_DOCS):
            input_tokens += docs_tokens
        models += estimated_cost_usd(variant.model, input_tokens, ESTIMATED_USAGE.output_tokens * entries) or 0.0
    judges = priced_evaluators(specs, settings)
    evaluations = sum(
        _judges_cost_usd(judges, settings, chars) * count for chars, count in Counter(reference_docs_chars).items()
    )
    return (models + evaluations * len(variants)) * repetitions
