"""Evaluators built by name, so experiment configs stored in Firestore can name them.

The built-in evaluators register themselves when their modules are imported: that happens on the
first lookup, so a function that needs no evaluator (datasets: corrections only) does not import
them at cold start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.errors import InvalidField
from shared.evaluation.base import Evaluator, is_wired
from shared.evaluation.registry import registered, registered_names

if TYPE_CHECKING:
    from shared.config import Settings


def _load_built_ins() -> None:
    from shared.evaluation import cross_check, llm_judge, offline, online, ragas_metrics  # noqa: F401


def evaluator_names() -> list[str]:
    _load_built_ins()
    return registered_names()


def create_evaluator(
    name: str, params: Mapping[str, Any] | None = None, *, settings: Settings | None = None
) -> Evaluator:
    """Build a registered evaluator; unknown names and bad params are InvalidField (422).

    Args:
        name: the evaluator's registered name.
        params: its parameters, as an experiment's config names them.
        settings: handed to an evaluator that reads settings (a `wired` field, e.g. the judges'
            Gemini configuration); without them such an evaluator can be named, labelled and
            priced, not run.
    """
    _load_built_ins()
    factory = registered(name)
    if factory is None:
        raise InvalidField(f"Unknown evaluator {name!r}.", details={"known": evaluator_names()})
    fields = dataclasses.fields(factory) if dataclasses.is_dataclass(factory) else None
    accepted = sorted(f.name for f in fields if f.init and not is_wired(f)) if fields is not None else None
    unknown = sorted(set(params or {}) - set(accepted)) if accepted is not None else []
    if unknown:
        raise InvalidField(
            f"Evaluator {name!r} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {', '.join(accepted or []) or 'none'}.",
            details={"evaluator": name, "unknown": unknown, "parameters": accepted},
        )
    takes_settings = any(f.name == "settings" and is_wired(f) for f in fields or ())
    wired = {"settings": settings} if takes_settings and settings is not None else {}
    try:
        return factory(**dict(params or {}), **wired)
    except (TypeError, ValueError, ValidationError) as error:
        raise InvalidField(f"Bad parameters for evaluator {name!r}: {error}") from None
