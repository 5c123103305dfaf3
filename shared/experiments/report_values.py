"""How the experiment report writes a metric's value: percent for rates, ms for latency, dollars
for cost, plain numbers for counts; "n/a" for what is missing or not a finite number."""

from __future__ import annotations

import math
from typing import Any, Literal

Unit = Literal["rate", "ms", "usd", "count"]

# Every other metric is a share or a score in [0, 1] (pass/fail metrics, accuracy, F1, Ragas).
_COUNTS = frozenset({"count_error", "input_tokens", "output_tokens", "total_tokens"})
MISSING = "n/a"


def unit_of(label: str) -> Unit:
    if label.endswith("_ms"):
        return "ms"
    if label.endswith("_usd"):
        return "usd"
    if label in _COUNTS:
        return "count"
    return "rate"


def finite(value: Any) -> float | None:
    """The value as a float, or None when it is missing, not a number, NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def format_value(value: Any, unit: Unit) -> str:
    number = finite(value)
    if number is None:
        return MISSING
    if unit == "rate" and -1.0 <= number <= 1.0:
        return f"{_trim(100 * number, 1)}%"
    if unit == "ms":
        return f"{number:,.0f} ms"
    if unit == "usd":
        return "$0" if number == 0 else f"${number:,.4f}" if abs(number) < 1 else f"${number:,.2f}"
    return f"{number:,.0f}" if abs(number) >= 100 else _trim(number, 2)


def format_difference(value: Any, unit: Unit) -> str:
    """A signed difference: percentage points for rates, the unit otherwise."""
    number = finite(value)
    if number is None:
        return MISSING
    sign = "+" if number > 0 else "\u2212" if number < 0 else "\u00b1"
    if unit == "rate":
        return f"{sign}{_trim(100 * abs(number), 1)} pp"
    return sign + format_value(abs(number), unit)


def format_interval(low: Any, high: Any, unit: Unit, *, signed: bool = False) -> str:
    write = format_difference if signed else format_value
    if finite(low) is None or finite(high) is None:
        return MISSING
    return f"[{write(low, unit)}, {write(high, unit)}]"


def format_p(value: Any) -> str:
    number = finite(value)
    if number is None:
        return MISSING
    if number < 0.001:
        return "< 0.001"
    return f"= {number:.2g}" if number < 0.1 else f"= {_trim(number, 2)}"


def _trim(number: float, places: int) -> str:
    text = f"{number:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
