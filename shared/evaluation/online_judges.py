"""`ONLINE_JUDGES`: the `llm_judge` evaluators run on every extraction, checked where they are
wired (the extraction service that runs them, the review queue's agreement that reports them)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shared.evaluation.base import Evaluator
from shared.evaluation.catalog import create_evaluator
from shared.evaluation.online import ONLINE_EVALUATORS
from shared.models import Evaluation, ExtractionUsage, JudgesUsage, TokenUsage

if TYPE_CHECKING:
    from shared.config import Settings


def parse_online_judges(
    text: str,
    *,
    settings: Settings | None = None,
    stored_judges: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> list[Evaluator]:
    """`ONLINE_JUDGES`: a JSON list of `llm_judge` params, each judge with its own label; a judge
    may name a stored one (`{"judge": "name@version|name@label", "label"}`).

    Args:
        text: the setting's value; empty means no judge.
        settings: the judges' settings (their Gemini configuration); None builds judges that are
            only named (the agreement's labels), not run.
        stored_judges: resolves a stored judge to its version's params (the judge registry's
            `expand`, read once when the instance starts); None names such a judge only.

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
            if "judge" in params:
                params = stored_judges(params) if stored_judges else _named_only(params)
            judges.append(create_evaluator("llm_judge", params, settings=settings))
        except Exception as error:  # InvalidField: a configuration error, not a client's
            raise ValueError(f"ONLINE_JUDGES: {getattr(error, 'message', error)}") from None
    labels = [judge.evaluation_label for judge in judges]
    if len(set(labels)) != len(labels):
        raise ValueError(f"ONLINE_JUDGES: give each judge its own label (got {labels})")
    return judges


def online_evaluators(
    settings: Settings, *, stored_judges: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> list[Evaluator]:
    """What runs on every extraction: the built-in online evaluators, then the `ONLINE_JUDGES`.

    Raises:
        ValueError: a bad `ONLINE_JUDGES` (the instance stops at start-up, saying why).
    """
    built_in = [create_evaluator(name, settings=settings) for name in ONLINE_EVALUATORS]
    return built_in + parse_online_judges(settings.online_judges, settings=settings, stored_judges=stored_judges)


def _named_only(params: dict[str, Any]) -> dict[str, Any]:
    """A stored judge to be named, not run (the agreement's label): its label and reference only."""
    return {
        "rubric": f"the stored judge {params['judge']}",
        "label": params.get("label") or "",
        "judge": str(params["judge"]),
    }


def extraction_usage(reading: TokenUsage, evaluations: Sequence[Evaluation]) -> ExtractionUsage:
    """The extraction's usage: the reading's tokens plus its online judges' (each judge's call is
    in its evaluation's `details`, also when its answer was refused: those tokens were paid for)."""
    by_label: dict[str, TokenUsage] = {}
    costs: list[float] = []
    for evaluation in evaluations:
        spent = _judge_spent(evaluation.details)
        if spent is None:
            continue
        by_label[evaluation.label], cost = spent
        if cost is not None:
            costs.append(cost)
    if not by_label:
        return ExtractionUsage(**reading.model_dump(include={"input_tokens", "output_tokens", "total_tokens"}))
    judges = JudgesUsage(
        input_tokens=sum(u.input_tokens for u in by_label.values()),
        output_tokens=sum(u.output_tokens for u in by_label.values()),
        total_tokens=sum(u.total_tokens for u in by_label.values()),
        cost_usd=round(sum(costs), 8) if costs else None,
        by_label=by_label,
    )
    return ExtractionUsage(
        input_tokens=reading.input_tokens + judges.input_tokens,
        output_tokens=reading.output_tokens + judges.output_tokens,
        total_tokens=reading.total_tokens + judges.total_tokens,
        reading=TokenUsage(**reading.model_dump(include={"input_tokens", "output_tokens", "total_tokens"})),
        judges=judges,
    )


def _judge_spent(details: dict[str, Any]) -> tuple[TokenUsage, float | None] | None:
    """A judge's tokens and cost from its evaluation's details; None for any other evaluator."""
    usage = details.get("usage")
    if "judge_model" not in details or not isinstance(usage, dict):
        return None
    tokens = {key: int(usage.get(key) or 0) for key in ("input_tokens", "output_tokens", "total_tokens")}
    cost = details.get("cost_usd")
    return TokenUsage(**tokens), float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None
