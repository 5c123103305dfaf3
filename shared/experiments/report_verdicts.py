"""The experiment report's answer: which variant is better, by how much, and whether that is real.

The numbers are `compare_experiment_runs`'s, the function behind `GET /experiments/{id}/compare`:
one sentence per significant result (the primary metric first), a table per compared pair with the
raw and the Holm-adjusted p-value and the minimum detectable effect, a forest plot of the
differences, and, where there is no significant difference, the evidence there was, about how many
records would show the observed difference, and how large a difference the primary metric could
have shown.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.experiments.analysis import baseline_variant, compare_experiment_runs
from shared.experiments.report_values import (
    finite,
    format_difference,
    format_interval,
    format_p,
    format_value,
    unit_of,
)
from shared.models import ExperimentRecord, RunRecord

_TESTS = {"mcnemar_exact": "McNemar (exact)", "wilcoxon_signed_rank": "Wilcoxon signed-rank"}
_VERDICT_WORDS = {"better": "better", "worse": "worse", "no_significant_difference": "no significant difference"}
_VERDICT_COLOURS = {"better": "#2e7d32", "worse": "#c62828", "no_significant_difference": "#777"}


@dataclass(frozen=True)
class PairComparison:
    """One compared pair, named as `/compare` names it: `b` against `a`."""

    a: str
    b: str
    result: Mapping[str, Any]  # compare_experiment_runs(runs of a, runs of b)

    def rows(self) -> list[tuple[str, Mapping[str, Any]]]:
        metrics = list((self.result.get("metrics") or {}).items())
        return metrics + list((self.result.get("performance") or {}).items())


def compare_for_report(
    experiment: ExperimentRecord,
    runs: list[RunRecord],
    baseline: tuple[ExperimentRecord, list[RunRecord]] | None = None,
) -> list[PairComparison]:
    """Each variant against the baseline experiment's (when there is one), else against the first."""
    by_variant: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_variant[run.variant].append(run)
    names = [v.name for v in experiment.variants]
    if baseline is not None:
        base, base_runs = baseline
        pairs = []
        for name in names:
            theirs = baseline_variant(base, name)
            if theirs is not None:
                runs_a = [r for r in base_runs if r.variant == theirs]
                result = compare_experiment_runs(runs_a, by_variant[name], declared_primary=experiment.primary_metric)
                a, b = f"{base.experiment_id}:{theirs}", f"{experiment.experiment_id}:{name}"
                pairs.append(PairComparison(a, b, result))
        if pairs:
            return pairs
    return [
        PairComparison(
            names[0],
            name,
            compare_experiment_runs(by_variant[names[0]], by_variant[name], declared_primary=experiment.primary_metric),
        )
        for name in names[1:]
    ]


def verdict_section(pairs: list[PairComparison]) -> str:
    if not pairs:
        return (
            "<section class='answer'><h2>Answer</h2><p class='verdict'>One variant and no baseline experiment: "
            "nothing to compare. The figures below describe it alone.</p></section>"
        )
    sentences = [sentence for pair in pairs for sentence in pair_sentences(pair)]
    items = "".join(f"<li class='verdict'>{s}</li>" for s in sentences)
    tables = "".join(_pair_table(pair, several=len(pairs) > 1) for pair in pairs)
    plots = "".join(
        (f"<p class='plot-of'>{html.escape(pair.b)} against {html.escape(pair.a)}</p>" if len(pairs) > 1 else "")
        + forest_plot(pair)
        for pair in pairs
    )
    return (
        f"<section class='answer'><h2>Answer</h2><ul class='verdicts'>{items}</ul>{tables}"
        f"<h3>Differences with their 95% intervals (zero is the dashed line)</h3>{plots}</section>"
    )


def pair_sentences(pair: PairComparison) -> list[str]:
    """One sentence (HTML, escaped) per significant result; when no quality metric differs
    significantly, one that says so and what the closest one would take. Latency comes last: it
    says how the run went, not how good the variant is."""
    metrics = sorted((pair.result.get("metrics") or {}).items(), key=lambda item: not item[1].get("primary"))
    performance = list((pair.result.get("performance") or {}).items())
    said = [_significant(pair, label, row) for label, row in metrics if _is_significant(row)]
    if not said:
        said.append(_nothing_significant(pair, metrics))
    said += [
        _significant(pair, label, row, word="faster" if row["verdict"] == "better" else "slower")
        for label, row in performance
        if _is_significant(row)
    ]
    return said


def _is_significant(row: Mapping[str, Any]) -> bool:
    return row.get("verdict") in ("better", "worse") and finite(row.get("p_value")) is not None


def _significant(pair: PairComparison, label: str, row: Mapping[str, Any], *, word: str | None = None) -> str:
    unit = unit_of(label)
    numbers = (
        f"{format_value(row.get('b_mean'), unit)} vs {format_value(row.get('a_mean'), unit)} "
        f"({format_difference(row.get('delta'), unit)}, 95% interval "
        f"{format_interval(row.get('ci_low'), row.get('ci_high'), unit, signed=True)}), "
        f"p {format_p(row.get('p_value'))}{_holm(row)}, {_evidence(row)}"
    )
    primary = " (the primary metric)" if row.get("primary") else ""
    return (
        f"<b>{html.escape(pair.b)}</b> is <b>{html.escape(word or str(row['verdict']))}</b> than "
        f"<b>{html.escape(pair.a)}</b> on {html.escape(label)}{primary}: {html.escape(numbers)}."
    )


def _holm(row: Mapping[str, Any]) -> str:
    """The adjusted p beside the raw one, when the correction changed it."""
    adjusted = finite(row.get("p_adjusted"))
    if adjusted is None or adjusted == finite(row.get("p_value")):
        return ""
    return f" (Holm-adjusted {format_p(adjusted).removeprefix('= ')})"


def _nothing_significant(pair: PairComparison, metrics: list[tuple[str, Mapping[str, Any]]]) -> str:
    compared = sum(1 for _, row in metrics if row.get("n_pairs"))
    text = (
        f"<b>No significant difference</b> between <b>{html.escape(pair.b)}</b> and <b>{html.escape(pair.a)}</b> "
        f"on any of the {compared} quality metrics compared (alpha 0.05, Holm-corrected across them)."
        + _primary_could_show(metrics)
    )
    candidates = [
        (label, row)
        for label, row in metrics
        if isinstance(row.get("records_needed"), int) and finite(row.get("p_value")) is not None
    ]
    closest = min(candidates, key=lambda item: item[1]["p_value"], default=None)
    if closest is None:
        return text
    label, row = closest
    unit = unit_of(label)
    numbers = (
        f"{format_value(row.get('b_mean'), unit)} vs {format_value(row.get('a_mean'), unit)}, "
        f"p {format_p(row.get('p_value'))}, {_evidence(row)}"
    )
    return (
        f"{text} Closest: {html.escape(label)}, {html.escape(numbers)}; about {row['records_needed']} records "
        "would show a difference this size (80% power, method at the end)."
    )


def _primary_could_show(metrics: list[tuple[str, Mapping[str, Any]]]) -> str:
    """How large a difference the primary metric's pairs could have shown: what "no difference" rules out."""
    for label, row in metrics:
        if row.get("primary") and finite(row.get("mde")) is not None:
            return (
                f" The primary metric, {html.escape(label)}, could have shown a true difference of "
                f"{html.escape(_magnitude(row['mde'], label))} or more (80% power): a smaller one may be there unseen."
            )
    return ""


def _magnitude(value: Any, label: str) -> str:
    """A size without a sign (an MDE): `12.5 pp`, `40 ms`, `0.8`."""
    return format_difference(value, unit_of(label)).lstrip("+\u00b1")


def _mde(row: Mapping[str, Any], label: str) -> str:
    if finite(row.get("mde")) is not None:
        return _magnitude(row["mde"], label)
    return "no pairs" if not row.get("n_pairs") else "not estimable"


def _evidence(row: Mapping[str, Any]) -> str:
    if row.get("test") == "mcnemar_exact":
        return f"McNemar on {row.get('discordant_pairs', 0)} discordant pairs of {row.get('n_pairs', 0)}"
    return f"Wilcoxon on {row.get('nonzero_differences', 0)} non-zero differences of {row.get('n_pairs', 0)} pairs"


def _records_needed(row: Mapping[str, Any]) -> str:
    if row.get("verdict") != "no_significant_difference":
        return "\u2013"
    if not row.get("n_pairs"):
        return "no pairs"
    needed = row.get("records_needed")
    return f"about {needed}" if isinstance(needed, int) else "not estimable (no difference)"


def _pair_table(pair: PairComparison, *, several: bool) -> str:
    a, b = html.escape(pair.a), html.escape(pair.b)
    caption = f"<caption>{b} against {a}</caption>" if several else ""
    head = (
        f"<tr><th>metric</th><th class='name'>{a}</th><th class='name'>{b}</th>"
        f"<th class='name'>{b} \u2212 {a} [95% interval]</th><th>p (raw)</th><th>p (Holm)<a href='#methods'>*</a></th>"
        "<th>test</th><th>verdict</th><th>evidence</th><th>records needed<a href='#methods'>*</a></th>"
        "<th>MDE<a href='#methods'>*</a></th></tr>"
    )
    body = "".join(_table_row(label, row) for label, row in pair.rows())
    # Scrolls sideways in a narrow frame (the console embeds the report) instead of breaking words.
    return f"<div class='cmp-scroll'><table class='cmp' data-a='{a}' data-b='{b}'>{caption}{head}{body}</table></div>"


def _table_row(label: str, row: Mapping[str, Any]) -> str:
    """Each figure's cell carries `/compare`'s number as it is (`data-*`), beside its words."""
    unit = unit_of(label)
    verdict = str(row.get("verdict", "no_significant_difference"))

    def cell(field: str, text: str, *also: str, shown: str | None = None) -> str:
        attributes = "".join(f" data-{name.replace('_', '-')}='{_raw(row.get(name))}'" for name in (field, *also))
        return f"<td class='{field}'{attributes}>{shown if shown is not None else html.escape(text)}</td>"

    interval = format_interval(row.get("ci_low"), row.get("ci_high"), unit, signed=True)
    difference = f"{html.escape(format_difference(row.get('delta'), unit))} <span>{html.escape(interval)}</span>"
    test = str(row.get("test"))
    primary = " <span class='primary' data-primary='true'>primary</span>" if row.get("primary") else ""
    return (
        f"<tr data-metric='{html.escape(label)}'><th>{html.escape(label)}{primary}</th>"
        + cell("a_mean", format_value(row.get("a_mean"), unit))
        + cell("b_mean", format_value(row.get("b_mean"), unit))
        + cell("delta", "", "ci_low", "ci_high", shown=difference)
        + cell("p_value", format_p(row.get("p_value")).removeprefix("= "))
        + cell("p_adjusted", format_p(row.get("p_adjusted")).removeprefix("= "))
        + f"<td class='test' data-test='{html.escape(test)}'>{html.escape(_TESTS.get(test, test))}</td>"
        + f"<td class='verdict {html.escape(verdict)}' data-verdict='{html.escape(verdict)}'>"
        f"{html.escape(_VERDICT_WORDS.get(verdict, verdict))}</td>"
        + cell("n_pairs", _evidence(row).split(" on ", 1)[1], "discordant_pairs", "nonzero_differences")
        + cell("records_needed", _records_needed(row))
        + cell("mde", _mde(row, label))
        + "</tr>"
    )


def _raw(value: Any) -> str:
    """A number as Python writes it (round-trips exactly), for tests and scrapers; empty when missing."""
    if isinstance(value, bool) or value is None:
        return ""
    return html.escape(repr(value)) if isinstance(value, int | float) else ""


def forest_plot(pair: PairComparison) -> str:
    """Each metric's difference b - a and its interval; metrics of one unit share a scale."""
    rows = [(label, row) for label, row in pair.rows() if finite(row.get("delta")) is not None]
    if not rows:
        return "<p>No paired values to plot.</p>"
    extent: dict[str, float] = defaultdict(float)
    for label, row in rows:
        for field in ("delta", "ci_low", "ci_high"):
            extent[unit_of(label)] = max(extent[unit_of(label)], abs(finite(row.get(field)) or 0.0))
    width, step, left, plot = 900, 24, 230, 380
    centre = left + plot / 2
    b = html.escape(_short(pair.b, 20))
    shapes = [
        f"<text x='{left}' y='14' class='v'>\u2190 {b} lower</text>"
        f"<text x='{left + plot}' y='14' class='v' text-anchor='end'>{b} higher \u2192</text>"
    ]
    for i, (label, row) in enumerate(rows):
        y = 34 + i * step
        unit = unit_of(label)
        scale = (plot / 2 - 8) / (extent[unit] or 1.0)

        def x(value: Any, scale: float = scale) -> float:
            return centre + (finite(value) or 0.0) * scale

        colour = _VERDICT_COLOURS.get(str(row.get("verdict")), "#777")
        low = row.get("ci_low") if finite(row.get("ci_low")) is not None else row.get("delta")
        high = row.get("ci_high") if finite(row.get("ci_high")) is not None else row.get("delta")
        said = f"{format_difference(row.get('delta'), unit)} {format_interval(low, high, unit, signed=True)}"
        shapes.append(
            f"<text x='4' y='{y + 4}'>{html.escape(_short(label, 30))}<title>{html.escape(label)}</title></text>"
            f"<line x1='{x(low):.1f}' x2='{x(high):.1f}' y1='{y}' y2='{y}' stroke='{colour}' stroke-width='3'/>"
            f"<circle cx='{x(row.get('delta')):.1f}' cy='{y}' r='5' fill='{colour}'/>"
            f"<text x='{left + plot + 14}' y='{y + 4}' class='v'>{html.escape(said)}</text>"
        )
    height = 34 + len(rows) * step
    axis = f"<line x1='{centre}' x2='{centre}' y1='20' y2='{height - 8}' stroke='#999' stroke-dasharray='4 3'/>"
    return (
        f"<svg class='forest' width='{width}' height='{height}' role='img' "
        f"aria-label='{html.escape(pair.b)} minus {html.escape(pair.a)}'>{axis}{''.join(shapes)}</svg>"
    )


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "\u2026"


METHODS = (
    "<footer id='methods'><p><b>Methods.</b> Records are paired by dataset entry and repetition; "
    "these are the numbers <code>GET /experiments/{id}/compare</code> answers. Pass/fail metrics: "
    "McNemar's exact test (a binomial test on the discordant pairs); scores: the Wilcoxon signed-rank "
    "test; the 95% interval of the mean difference is a paired bootstrap. <b>*p (Holm)</b>: many metrics "
    "are tested at once, so each verdict is decided on its p-value adjusted by Holm's step-down method "
    "across the quality metrics (the primary one included): the chance of calling any metric better or "
    "worse when nothing changed stays at most alpha 0.05 (uncorrected, ten metrics would do it up to "
    "40% of the time). The per-field breakdown is corrected among its own fields; latency, apart, is not "
    "corrected and depends on the machine's load while the runs overlapped. The primary metric is the "
    "one the experiment declared, else vote_count_accuracy, else the first evaluator's. "
    "<b>*MDE</b>: the minimum detectable effect, the smallest true difference these pairs would show at "
    "alpha 0.05 with 80% power: Connor's formula below solved for d at the observed share of discordant "
    "pairs (at least d), or (z<sub>0.975</sub> + z<sub>0.8</sub>) sd / &radic;n for scores; a "
    "&ldquo;no significant difference&rdquo; rules out differences of about the MDE and larger, not "
    "smaller ones. <b>*Records needed</b>: about "
    "how many paired records would show the observed difference at alpha 0.05 with 80% power. "
    "Pass/fail: Connor (1987), from the observed shares of pairs where only one side passed "
    "(p01, p10; psi = p01 + p10, d = p01 - p10): n = (z<sub>0.975</sub>&radic;psi + "
    "z<sub>0.8</sub>&radic;(psi - d&sup2;))&sup2; / d&sup2;. Scores: the paired t approximation "
    "n = ((z<sub>0.975</sub> + z<sub>0.8</sub>) sd / d)&sup2;, with d and sd the mean and standard "
    "deviation of the differences. Rounded up, never below 6 (the fewest pairs with which either "
    "test can reach p &lt; 0.05); not estimable when the observed difference is zero. It takes this "
    "sample's difference as the true one: an estimate, not a promise. With few discordant pairs the "
    "bootstrap interval can leave out zero while the exact test stays above alpha: the verdict follows "
    "the test.</p></footer>"
)
