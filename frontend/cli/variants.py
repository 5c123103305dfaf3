"""The small syntaxes of the command line: variants, dataset versions, floors."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any

# The metrics where lower is better; kept equal to shared/experiments/summary.py's LOWER_IS_BETTER
# (a unit test checks), since a client of the HTTP API does not import the product's code.
LOWER_IS_BETTER = frozenset(
    {"count_error", "latency_ms", "input_tokens", "output_tokens", "cost_usd", "evaluator_cost_usd"}
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_variant(text: str) -> dict[str, Any]:
    """`on:tesseract:deskew=true,remove_lines=false@prompt_b` -> a variant object of POST /experiments.

    The prompt part may be a label (`prompt_b@production`): everything after the first `@` is it.
    """
    head, _, prompt = text.partition("@")
    name, _, rest = head.partition(":")
    model, _, raw_params = rest.partition(":")
    if not name or not model:
        raise argparse.ArgumentTypeError(f"variant {text!r} must be NAME:MODEL[:PARAM=VALUE,...][@PROMPT_VERSION]")
    params: dict[str, Any] = {}
    for pair in filter(None, raw_params.split(",")):
        key, equals, value = pair.partition("=")
        if not key or not equals:
            raise argparse.ArgumentTypeError(f"variant {text!r}: each param must be PARAM=VALUE, not {pair!r}")
        params[key] = _scalar(value)
    variant: dict[str, Any] = {"name": name, "model": model, "params": params}
    if prompt:
        variant["prompt_version"] = prompt
    return variant


def _scalar(value: str) -> Any:
    if value in ("true", "false"):
        return value == "true"
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    return value


def parse_dataset(text: str) -> dict[str, str]:
    """`demo_forms@v1` -> `{"name": "demo_forms", "version": "v1"}`."""
    name, _, version = text.partition("@")
    if not name or not version:
        raise argparse.ArgumentTypeError(f"dataset {text!r} must be NAME@VERSION, as demo_forms@v1")
    return {"name": name, "version": version}


@dataclass(frozen=True)
class Floor:
    """The candidate's mean of `metric` must be at least `value` (at most, for lower-is-better metrics)."""

    metric: str
    value: float

    @property
    def at_most(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    def holds(self, mean: float) -> bool:
        return mean <= self.value if self.at_most else mean >= self.value

    def __str__(self) -> str:
        return f"{self.metric} {'<=' if self.at_most else '>='} {self.value:g}"


def parse_floor(text: str) -> Floor:
    """`vote_count_accuracy=0.9` -> a Floor."""
    metric, _, value = text.partition("=")
    if not metric or not _NUMBER.match(value.strip()):
        raise argparse.ArgumentTypeError(f"floor {text!r} must be METRIC=NUMBER, as vote_count_accuracy=0.9")
    return Floor(metric.strip(), float(value))
