"""`ONLINE_JUDGES`: the `llm_judge` evaluators run on every extraction, checked where they are
wired (the extraction service that runs them, the review queue's agreement that reports them)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from shared.evaluation.base import Evaluator
from shared.evaluation.catalog import create_evaluator
from shared.evaluation.online import ONLINE_EVALUATORS

if TYPE_CHECKING:
    from shared.config import Settings


def parse_online_judges(text: str, *, settings: Settings | None = None) -> list[Evaluator]:
    """`ONLINE_JUDGES`: a JSON list of `llm_judge` params, each judge with its own label.

    Args:
        text: the setting's value; empty means no judge.
        settings: the judges' settings (their Gemini configuration); None builds judges that are
            only named (the agreement's labels), not run.

    Raises:
        ValueError: not such a list, a bad judge, or two judges with one label; the message says which.
    """
    if not text.strip():
        return []
    try:
        given = json.loads(text)
    except ValueError as error:
        raise ValueError(f"ONLINE_JUDGES must be a JSON list of llm_judge params: {error}") from None
    if not isinstance(given, list) or not all(isinstance(params, dict) for params in given):
        raise ValueError("ONLINE_JUDGES must be a JSON list of objects (llm_judge params)")
    judges = []
    for params in given:
        try:
            judges.append(create_evaluator("llm_judge", params, settings=settings))
        except Exception as error:  # InvalidField: a configuration error, not a client's
            raise ValueError(f"ONLINE_JUDGES: {getattr(error, 'message', error)}") from None
    labels = [judge.evaluation_label for judge in judges]
    if len(set(labels)) != len(labels):
        raise ValueError(f"ONLINE_JUDGES: give each judge its own label (got {labels})")
    return judges


def online_evaluators(settings: Settings) -> list[Evaluator]:
    """What runs on every extraction: the built-in online evaluators, then the `ONLINE_JUDGES`.

    Raises:
        ValueError: a bad `ONLINE_JUDGES` (the instance stops at start-up, saying why).
    """
    built_in = [create_evaluator(name, settings=settings) for name in ONLINE_EVALUATORS]
    return built_in + parse_online_judges(settings.online_judges, settings=settings)
