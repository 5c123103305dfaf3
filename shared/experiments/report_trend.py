"""The report's "Trend" section for a scheduled experiment: per metric, a small inline SVG of the
schedule's recent runs (mean and 95% interval), the alert threshold as a dashed line, each run's
verdict against its baseline as its marker, and this run picked out. No scripts, no files.
"""

from __future__ import annotations

import html
from typing import Any

from shared.experiments.report_values import format_value, unit_of

_LEFT_OUT = frozenset({"input_tokens", "output_tokens", "cost_usd", "evaluator_cost_usd"})
_WIDTH, _HEIGHT, _PAD_X, _PAD_TOP, _PAD_BOTTOM = 380, 130, 66, 12, 22
_VERDICT_COLOUR = {"better": "#2e7d32", "worse": "#c62828", "no_significant_difference": "#777"}
_LINE = "#3b6fb6"


def trend_section(trend: dict[str, Any] | None, experiment_id: str) -> str:
    """The section's HTML; empty when the experiment belongs to no schedule (`trend` None)."""
    if trend is None:
        return ""
    charts = [
        _chart(label, metric, experiment_id)
        for label, metric in trend["metrics"].items()
        if label not in _LEFT_OUT and "=" not in label
    ]
    schedule = html.escape(trend["schedule_id"])
    if not charts:
        return f"<h2>Trend</h2><p>Schedule {schedule} has no finished run with a summary yet.</p>"
    return (
        f"<h2>Trend of schedule {schedule}</h2>"
        "<p class='sub'>Each run's mean and 95% interval, oldest on the left; this run ringed. Marker: "
        "<b style='color:#2e7d32'>&#9650; better</b>, <b style='color:#c62828'>&#9660; worse</b>, "
        "<b style='color:#777'>&#9679; no significant difference</b> than its baseline, &#9675; no baseline; "
        "a red square: an alert fired. Dashed red: the schedule's alert threshold.</p>"
        f"<div class='grid trend'>{''.join(charts)}</div>"
    )


def _chart(label: str, metric: dict[str, Any], experiment_id: str) -> str:
    points = metric["points"]
    variants = list(dict.fromkeys(p["variant"] for p in points))
    runs = list(dict.fromkeys(p["experiment_id"] for p in points))
    values = [v for p in points for v in (p["mean"], p["ci_low"], p["ci_high"]) if v is not None]
    threshold = metric.get("threshold")
    if threshold is not None:
        values.append(threshold)
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5 if low else -0.5, high + 0.5 if high else 0.5
    labelled = (high, low)
    margin = (high - low) * 0.06  # markers at the extremes stay inside the box
    low, high = low - margin, high + margin

    def x(run_id: str) -> float:
        step = (_WIDTH - _PAD_X - 12) / max(1, len(runs) - 1)
        return _PAD_X + (runs.index(run_id) * step if len(runs) > 1 else (_WIDTH - _PAD_X - 12) / 2)

    def y(value: float) -> float:
        return _PAD_TOP + (high - value) / (high - low) * (_HEIGHT - _PAD_TOP - _PAD_BOTTOM)

    base = _HEIGHT - _PAD_BOTTOM
    shapes = [f"<line x1='{_PAD_X}' y1='{base}' x2='{_WIDTH - 6}' y2='{base}' stroke='#bbb'/>"]
    for value in labelled:
        shapes.append(
            f"<text class='v' x='{_PAD_X - 4}' y='{y(value) + 4:.1f}' text-anchor='end'>"
            f"{format_value(value, unit_of(label))}</text>"
        )
    if threshold is not None:
        shapes.append(
            f"<line class='threshold' x1='{_PAD_X}' y1='{y(threshold):.1f}' x2='{_WIDTH - 6}' y2='{y(threshold):.1f}' "
            f"stroke='#c62828' stroke-dasharray='5 3'><title>alert threshold {threshold}</title></line>"
        )
    for index, variant in enumerate(variants):
        mine = [p for p in points if p["variant"] == variant]
        opacity = 1.0 if index == 0 else 0.6
        path = " ".join(f"{x(p['experiment_id']):.1f},{y(p['mean']):.1f}" for p in mine)
        shapes.append(f"<polyline points='{path}' fill='none' stroke='{_LINE}' stroke-opacity='{opacity}'/>")
        for point in mine:
            shapes.append(_marker(label, point, x(point["experiment_id"]), y, point["experiment_id"] == experiment_id))
    caption = html.escape(label) + ("" if metric["higher_is_better"] else " (lower is better)")
    if len(variants) > 1:
        caption += " &middot; " + html.escape(", ".join(variants))
    return (
        f"<figure class='card'><figcaption>{caption}</figcaption>"
        f"<svg class='trend' width='{_WIDTH}' height='{_HEIGHT}' role='img' aria-label='{html.escape(label)} trend'>"
        f"{''.join(shapes)}</svg>"
        f"<small>{len(runs)} run(s), {html.escape(runs[0])} to {html.escape(runs[-1])}</small></figure>"
    )


def _marker(label: str, point: dict[str, Any], cx: float, y: Any, current: bool) -> str:
    verdict = point["verdict"]
    colour = _VERDICT_COLOUR.get(verdict or "", "#3b6fb6")
    cy = y(point["mean"])
    title = html.escape(
        f"{point['experiment_id']} {point['variant']}: {format_value(point['mean'], unit_of(label))}, "
        f"verdict {verdict or 'none (no baseline)'}{', alert fired' if point['alert'] else ''}"
    )
    parts = []
    if point["ci_low"] is not None and point["ci_high"] is not None:
        parts.append(
            f"<line x1='{cx:.1f}' y1='{y(point['ci_low']):.1f}' x2='{cx:.1f}' y2='{y(point['ci_high']):.1f}' "
            f"stroke='{colour}' stroke-opacity='0.5' stroke-width='3'/>"
        )
    if point["alert"]:
        parts.append(
            f"<rect class='alert' x='{cx - 7:.1f}' y='{cy - 7:.1f}' width='14' height='14' "
            "fill='none' stroke='#c62828'/>"
        )
    if current:
        parts.append(f"<circle class='current' cx='{cx:.1f}' cy='{cy:.1f}' r='9' fill='none' stroke='#222'/>")
    if verdict == "better":
        parts.append(f"<path class='better' d='M{cx:.1f},{cy - 5:.1f} l5,8 h-10 z' fill='{colour}'/>")
    elif verdict == "worse":
        parts.append(f"<path class='worse' d='M{cx:.1f},{cy + 5:.1f} l5,-8 h-10 z' fill='{colour}'/>")
    elif verdict == "no_significant_difference":
        parts.append(f"<circle class='same' cx='{cx:.1f}' cy='{cy:.1f}' r='4' fill='{colour}'/>")
    else:
        parts.append(f"<circle class='none' cx='{cx:.1f}' cy='{cy:.1f}' r='4' fill='#fff' stroke='{colour}'/>")
    return f"<g><title>{title}</title>{''.join(parts)}</g>"
