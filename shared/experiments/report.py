"""One self-contained HTML page per experiment: inline SVG charts, images embedded, no scripts.

It opens with the answer (`report_verdicts`: the paired comparison `/compare` gives, in words, a
table and a forest plot), then each metric per variant with its 95% interval, per-field accuracy,
the latency distribution, and the records where the variants disagree, with their images.
"""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from shared.experiments.report_trend import trend_section
from shared.experiments.report_values import finite, format_interval, format_value, unit_of
from shared.experiments.report_verdicts import METHODS, compare_for_report, verdict_section
from shared.models import ExperimentRecord, RunRecord
from shared.ports.services import ImageReader

_COLOURS = ("#3b6fb6", "#e08a2e", "#4b9a5b", "#b5475b", "#7a5fb0", "#5a8f9c")
_MAX_DISAGREEMENTS = 24
_AGREEMENT_LABEL = "vote_count_exact"


def render_report(
    experiment: ExperimentRecord,
    runs: list[RunRecord],
    *,
    images: ImageReader,
    baseline: tuple[ExperimentRecord, list[RunRecord]] | None = None,
    trend: dict[str, Any] | None = None,
) -> str:
    """The report's HTML; `baseline` is the baseline experiment and its runs, when there is one;
    `trend` its schedule's trend (`TrendQueries.trend`), when a schedule started it."""
    variants = [v.name for v in experiment.variants]
    colour = {name: _COLOURS[i % len(_COLOURS)] for i, name in enumerate(variants)}
    sections = [
        f"<h1>{html.escape(experiment.name)}</h1>{_subtitle(experiment, runs)}",
        verdict_section(compare_for_report(experiment, runs, baseline)),
        trend_section(trend, experiment.experiment_id),
        _legend(variants, colour),
        _metric_cards(experiment.summary, variants, colour),
        _reader_agreement(experiment.summary, variants),
        _field_chart(runs, variants, colour),
        _latency_chart(runs, variants, colour),
        _disagreements(runs, variants, images),
        _details(experiment, runs),
        METHODS,
    ]
    return _PAGE.format(title=html.escape(experiment.name), body="\n".join(sections))


def _subtitle(experiment: ExperimentRecord, runs: list[RunRecord]) -> str:
    failed = sum(run.status == "failed" for run in runs)
    text = (
        f"{experiment.dataset_name}@{experiment.dataset_version}, {len(runs)} runs ({failed} failed), "
        f"{experiment.repetitions} repetition(s), {experiment.status}"
    )
    return f"<p class='sub'>{html.escape(text)}</p>"


def _details(experiment: ExperimentRecord, runs: list[RunRecord]) -> str:
    failed = sum(run.status == "failed" for run in runs)
    rows = [
        ("experiment", f"{experiment.name} ({experiment.experiment_id})"),
        ("dataset", f"{experiment.dataset_name}@{experiment.dataset_version}"),
        ("status", f"{experiment.status}" + (f": {experiment.status_reason}" if experiment.status_reason else "")),
        (
            "runs",
            f"{len(runs)} of {experiment.progress.total}, {failed} failed, {experiment.repetitions} repetition(s)",
        ),
        (
            "variants",
            "; ".join(
                f"{v.name}: {v.model}, {v.prompt_version}" + (f", {v.params}" if v.params else "")
                for v in experiment.variants
            ),
        ),
    ]
    if experiment.baseline_experiment_id:
        rows.append(("baseline experiment", experiment.baseline_experiment_id))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<h2>The experiment</h2><table class='meta'>{cells}</table>"


def _legend(variants: list[str], colour: dict[str, str]) -> str:
    items = "".join(f"<span><i style='background:{colour[v]}'></i>{html.escape(v)}</span>" for v in variants)
    return f"<p class='legend'>{items}</p>"


def _metric_cards(summary: dict[str, Any], variants: list[str], colour: dict[str, str]) -> str:
    per_variant = summary.get("variants", summary)
    points = {
        v: {label: p for label, p in (per_variant.get(v) or {}).items() if _is_interval(p)}
        for v in variants
        if isinstance(per_variant.get(v), dict)
    }
    labels = sorted({label for by_label in points.values() for label in by_label})
    if not labels:
        return "<h2>Metrics</h2><p>No summary yet.</p>"
    constant = [label for label in labels if _constant(label, points, variants)]
    cards = [
        _card(label, [(v, points[v][label]) for v in variants if label in points.get(v, {})], colour)
        for label in labels
        if label not in constant
    ]
    folded = ""
    if constant:
        same = ", ".join(
            f"{html.escape(label)} {html.escape(format_value(points[variants[0]][label]['mean'], unit_of(label)))}"
            for label in constant
        )
        folded = f"<p class='same'>The same for every variant, on every run: {same}.</p>"
    return (
        "<h2>Metrics per variant (mean and 95% interval)</h2>"
        + (f"<div class='grid'>{''.join(cards)}</div>" if cards else "")
        + folded
    )


def _reader_agreement(summary: dict[str, Any], variants: list[str]) -> str:
    """How often the cross check's two readers agreed, and whether agreement meant right."""
    per_variant = summary.get("variants", summary)
    lines = []
    for variant in variants:
        entry = (per_variant.get(variant) or {}).get("cross_check")
        if not isinstance(entry, dict) or entry.get("agreement_rate") is None:
            continue
        sentence = f"{variant}: the second reading agreed on {format_value(entry['agreement_rate'], 'rate')} of runs"
        if entry.get("right_when_agreeing") is not None:
            sentence += f"; when it agreed, the output was right {format_value(entry['right_when_agreeing'], 'rate')}"
        if entry.get("wrong_caught") is not None:
            sentence += f"; it disagreed on {format_value(entry['wrong_caught'], 'rate')} of the wrong outputs"
        lines.append(f"<li>{html.escape(sentence)}.</li>")
    if not lines:
        return ""
    return "<h2>Second reading (cross_check)</h2><ul>" + "".join(lines) + "</ul>"


def _is_interval(value: Any) -> bool:
    return isinstance(value, dict) and {"mean", "ci_low", "ci_high"} <= set(value) and finite(value["mean"]) is not None


def _constant(label: str, points: dict[str, dict[str, Any]], variants: list[str]) -> bool:
    """Every variant has it, with one value and no spread (e.g. the tokens of an offline model)."""
    if not all(label in points.get(v, {}) for v in variants):
        return False
    seen = {finite(points[v][label].get(field)) for v in variants for field in ("mean", "ci_low", "ci_high")}
    return len(seen) == 1


def _card(label: str, points: list[tuple[str, dict[str, Any]]], colour: dict[str, str]) -> str:
    """A metric's card: per variant a row of name, an interval bar (no text inside it) and the value."""
    unit = unit_of(label)
    ends = [finite(p.get(k)) for _, p in points for k in ("ci_low", "ci_high", "mean")]
    values = [v for v in ends if v is not None]
    low, high = (0.0, 1.0) if unit == "rate" else (min(0.0, *values), max(values))
    span = (high - low) or 1.0
    width = 120

    def x(value: Any) -> float:
        number = finite(value)
        return 4 + (width - 8) * ((number if number is not None else low) - low) / span

    rows = []
    for variant, point in points:
        mean = point["mean"]
        lo = point.get("ci_low") if finite(point.get("ci_low")) is not None else mean
        hi = point.get("ci_high") if finite(point.get("ci_high")) is not None else mean
        bar = (
            f"<svg width='{width}' height='16' aria-hidden='true'>"
            f"<line x1='4' x2='{width - 4}' y1='8' y2='8' stroke='#e3e3e3' stroke-width='6'/>"
            f"<line x1='{x(lo):.1f}' x2='{x(hi):.1f}' y1='8' y2='8' stroke='{colour[variant]}' stroke-width='6' "
            f"opacity='0.45'/><circle cx='{x(mean):.1f}' cy='8' r='4.5' fill='{colour[variant]}'/></svg>"
        )
        value = html.escape(format_value(mean, unit))
        interval = html.escape(f"{format_interval(lo, hi, unit)} n={point.get('n', '?')}")
        rows.append(
            f"<tr><td class='name'>{html.escape(variant)}</td><td class='bar'>{bar}</td>"
            f"<td class='val'><b>{value}</b> <small>{interval}</small></td></tr>"
        )
    return (
        f"<figure class='card'><figcaption>{html.escape(label)}</figcaption>"
        f"<table class='card'>{''.join(rows)}</table></figure>"
    )


def _field_chart(runs: list[RunRecord], variants: list[str], colour: dict[str, str]) -> str:
    right: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for evaluation in run.evaluations:
            fields = (evaluation.details or {}).get("fields") if evaluation.label == "vote_count_accuracy" else None
            for path, ok in (fields or {}).items():
                right[_field_kind(path)][run.variant].append(bool(ok))
    if not right:
        return "<h2>Per-field accuracy</h2><p>No per-field results (vote_count_accuracy was not run).</p>"
    kinds = sorted(right)
    width, group = 640, 18 * len(variants) + 10
    rows = []
    for i, kind in enumerate(kinds):
        y = 10 + i * group
        rows.append(f"<text x='4' y='{y + 12}'>{html.escape(kind)}</text>")
        for j, variant in enumerate(variants):
            outcomes = right[kind].get(variant, [])
            share = sum(outcomes) / len(outcomes) if outcomes else 0.0
            rows.append(
                f"<rect x='230' y='{y + j * 18}' width='{share * 340:.1f}' height='14' fill='{colour[variant]}'/>"
                f"<text x='{236 + share * 340:.1f}' y='{y + j * 18 + 12}' class='v'>{100 * share:.1f}%</text>"
            )
    height = 20 + len(kinds) * group
    return f"<h2>Per-field accuracy</h2><svg width='{width}' height='{height}' role='img'>{''.join(rows)}</svg>"


def _field_kind(path: str) -> str:
    if path.startswith("vote_results["):
        return "vote_results[*]." + path.rsplit(".", 1)[-1]
    return path


def _latency_chart(runs: list[RunRecord], variants: list[str], colour: dict[str, str]) -> str:
    latencies = {v: sorted(r.latency_ms for r in runs if r.variant == v) for v in variants}
    every = [x for values in latencies.values() for x in values]
    if not every:
        return "<h2>Latency</h2><p>No runs yet.</p>"
    bins, width, height = 24, 640, 160
    top = max(every) or 1.0
    edges = [top * (i + 1) / bins for i in range(bins)]
    counts = {
        v: [sum(1 for x in values if (edges[i - 1] if i else -1) < x <= edges[i]) for i in range(bins)]
        for v, values in latencies.items()
    }
    peak = max(max(c) for c in counts.values()) or 1
    bar = (width - 40) / bins / max(1, len(variants))
    shapes = []
    for j, variant in enumerate(variants):
        for i, count in enumerate(counts[variant]):
            h = (height - 30) * count / peak
            x = 30 + i * bar * len(variants) + j * bar
            shapes.append(
                f"<rect x='{x:.1f}' y='{height - 20 - h:.1f}' width='{bar:.1f}' height='{h:.1f}' "
                f"fill='{colour[variant]}'/>"
            )
    stats = "; ".join(
        f"{html.escape(v)}: p50 {_pct(vals, 0.5):.0f} ms, p95 {_pct(vals, 0.95):.0f} ms"
        for v, vals in latencies.items()
        if vals
    )
    axis = (
        f"<text x='30' y='{height - 4}' class='v'>0</text>"
        f"<text x='{width - 90}' y='{height - 4}' class='v'>{top:.0f} ms</text>"
    )
    return (
        f"<h2>Latency</h2><p>{stats}</p><svg width='{width}' height='{height}' role='img'>{''.join(shapes)}{axis}</svg>"
    )


def _pct(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


def _disagreements(runs: list[RunRecord], variants: list[str], images: ImageReader) -> str:
    by_entry: dict[str, dict[str, RunRecord]] = defaultdict(dict)
    for run in runs:
        if run.repetition == 0:
            by_entry[run.entry_id][run.variant] = run
    disagreeing = [
        (entry_id, variant_runs)
        for entry_id, variant_runs in sorted(by_entry.items())
        if len({_verdict(r) for r in variant_runs.values()}) > 1
    ]
    if not disagreeing:
        return (
            "<h2>Records where the variants disagree</h2>"
            "<p>None: every variant got the same verdict on every record.</p>"
        )
    rows = []
    for entry_id, variant_runs in disagreeing[:_MAX_DISAGREEMENTS]:
        image_uri = _image_uri(variant_runs.values())
        picture = _thumbnail(images, image_uri) if image_uri else ""
        cells = "".join(_variant_cell(v, variant_runs.get(v)) for v in variants)
        rows.append(f"<tr><td>{html.escape(entry_id)}<br>{picture}</td>{cells}</tr>")
    more = len(disagreeing) - _MAX_DISAGREEMENTS
    note = f"<p>and {more} more.</p>" if more > 0 else ""
    return (
        f"<h2>Records where the variants disagree ({len(disagreeing)})</h2>"
        f"<table class='dis'><tr><th>entry</th>{''.join(f'<th>{html.escape(v)}</th>' for v in variants)}</tr>"
        + "".join(rows)
        + "</table>"
        + note
    )


def _variant_cell(variant: str, run: RunRecord | None) -> str:
    if run is None:
        return "<td>-</td>"
    verdict, wrong = html.escape(_verdict(run)), html.escape(_wrong_fields(run))
    return f"<td><b>{html.escape(variant)}</b>: {verdict}<br>{wrong}</td>"


def _verdict(run: RunRecord) -> str:
    if run.status == "failed":
        return f"failed ({run.error_code})"
    exact = next((e for e in run.evaluations if e.label == _AGREEMENT_LABEL), None)
    if exact is None:
        return "succeeded"
    return "all counts right" if exact.value else "some counts wrong"


def _wrong_fields(run: RunRecord) -> str:
    for evaluation in run.evaluations:
        fields = (evaluation.details or {}).get("fields") if evaluation.label == "vote_count_accuracy" else None
        if fields:
            wrong = [path for path, ok in fields.items() if not ok]
            return ("wrong: " + ", ".join(wrong[:6]) + (" ..." if len(wrong) > 6 else "")) if wrong else ""
    return run.error or ""


def _image_uri(runs: Iterable[RunRecord]) -> str | None:
    return next((run.image_uri for run in runs if run.image_uri), None)


def _thumbnail(images: ImageReader, uri: str) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(images.get(uri))) as opened:
            opened.thumbnail((420, 600))
            buffer = io.BytesIO()
            opened.convert("L").save(buffer, format="JPEG", quality=70)
    except Exception:  # a missing image must not break the report
        return "<em>image unavailable</em>"
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='form' src='data:image/jpeg;base64,{encoded}'>"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}: experiment report</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }}
h1, h2, h3, p, li, th, td, figcaption {{ overflow-wrap: anywhere; }}
h1 {{ margin: 0 0 2px; font-size: 24px; }} h2 {{ margin: 22px 0 8px; font-size: 18px; }}
h3 {{ font-size: 14px; margin: 14px 0 4px; }}
p.sub {{ margin: 0; color: #555; }}
ul.verdicts {{ padding-left: 20px; margin: 6px 0 12px; font-size: 15px; }}
ul.verdicts li {{ margin-bottom: 4px; }}
table.cmp {{ border-collapse: collapse; margin-bottom: 8px; }}
table.cmp caption {{ text-align: left; font-weight: 600; padding: 4px 0; }}
table.cmp th, table.cmp td {{ border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: left;
  vertical-align: top; }}
table.cmp th, table.cmp td {{ overflow-wrap: normal; }} table.cmp th.name {{ overflow-wrap: anywhere; }}
.cmp-scroll {{ overflow-x: auto; }}
table.cmp td.a_mean, table.cmp td.b_mean, table.cmp td.p_value, table.cmp td.p_adjusted, table.cmp td.delta span,
table.cmp td.mde {{ white-space: nowrap; }}
table.cmp span.primary {{ font-size: 11px; font-weight: 600; color: #fff; background: #1565c0; border-radius: 3px;
  padding: 0 4px; margin-left: 4px; }}
table.cmp td.better {{ color: #2e7d32; font-weight: 600; }}
table.cmp td.worse {{ color: #c62828; font-weight: 600; }}
table.meta th {{ text-align: left; padding-right: 12px; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(370px, 1fr)); gap: 12px; }}
figure.card {{ margin: 0; border: 1px solid #ddd; padding: 6px 8px; min-width: 0; }}
figcaption {{ font-weight: 600; }}
table.card {{ width: 100%; table-layout: fixed; border-collapse: collapse; }}
table.card td {{ padding: 2px 4px 2px 0; vertical-align: middle; }}
table.card td.name {{ width: 24%; }} table.card td.bar {{ width: 124px; }}
table.card small {{ color: #555; }}
p.same {{ color: #444; }}
svg text {{ font-size: 12px; }} svg text.v {{ fill: #444; }}
.legend span {{ margin-right: 14px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; }}
table.dis {{ border-collapse: collapse; }}
table.dis td, table.dis th {{ border: 1px solid #ddd; padding: 6px; vertical-align: top; }}
table.dis img {{ max-width: 320px; display: block; margin-top: 4px; }}
footer {{ margin-top: 24px; color: #444; font-size: 13px; border-top: 1px solid #ddd; }}
</style></head><body>
{body}
</body></html>
"""
