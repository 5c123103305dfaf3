"""The report's answer: sentences, table, records needed and value formats, over in-memory runs."""

from __future__ import annotations

import html
import math
import re

import pytest

from shared.experiments.analysis import compare_experiment_runs
from shared.experiments.report import render_report
from shared.experiments.report_values import format_difference, format_interval, format_p, format_value, unit_of
from shared.experiments.report_verdicts import PairComparison, compare_for_report, pair_sentences
from tests.report_runs import NoImages, a_real_difference, run, three_discordant_of_24, two_variant_experiment


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def table_row(page: str, metric: str) -> dict[str, str]:
    """`data-*` attributes of a metric's row in the comparison table."""
    row = re.search(rf"<tr data-metric='{re.escape(metric)}'>(.*?)</tr>", page, re.S)
    assert row, f"no row for {metric}"
    return {name: html.unescape(value) for name, value in re.findall(r"data-([a-z-]+)='([^']*)'", row.group(1))}


def test_three_discordant_pairs_of_24_is_no_significant_difference_with_the_records_needed():
    experiment, runs = three_discordant_of_24()

    page = render_report(experiment, runs, images=NoImages())

    first = text_of(page.split("<li class='verdict'>", 1)[1].split("</li>", 1)[0])
    assert first.startswith("No significant difference between raw and pre")
    assert "McNemar on 3 discordant pairs of 24" in first and "about 61 records" in first
    row = table_row(page, "vote_count_exact")
    assert (row["verdict"], row["discordant-pairs"], row["records-needed"]) == ("no_significant_difference", "3", "61")
    assert "3 discordant pairs of 24</td>" in page and "about 61</td>" in page


def test_a_real_difference_names_the_better_variant_in_words():
    experiment, runs = a_real_difference()

    sentences = pair_sentences(compare_for_report(experiment, runs)[0])

    # raw p = 2 / 2**12 = 0.00049, the smallest of three metrics: Holm-adjusted 3 x 0.00049 = 0.0015
    assert text_of(sentences[2]) == (
        "raw is worse than pre on vote_count_exact: 50% vs 100% (\u221250 pp, 95% interval "
        "[\u221270.8 pp, \u221229.2 pp]), p < 0.001 (Holm-adjusted 0.0015), McNemar on 12 discordant pairs of 24."
    )
    assert text_of(sentences[-1]).startswith("raw is faster than pre on latency_ms: 344 ms vs 902 ms")
    assert not any("No significant difference" in s for s in sentences)


def test_the_report_shows_the_numbers_compare_gives_for_the_same_runs():
    experiment, runs = a_real_difference()
    compared = compare_experiment_runs([r for r in runs if r.variant == "pre"], [r for r in runs if r.variant == "raw"])

    page = render_report(experiment, runs, images=NoImages())

    rows = {**compared["metrics"], **compared["performance"]}
    for metric, numbers in rows.items():
        shown = table_row(page, metric)
        for field in (
            "a_mean",
            "b_mean",
            "delta",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "records_needed",
            "mde",
        ):
            expected = numbers[field]
            assert (float(shown[field.replace("_", "-")]) if expected is not None else None) == expected, field
        assert shown["verdict"] == numbers["verdict"] and shown["test"] == numbers["test"]


def test_more_than_two_variants_are_each_compared_with_the_first():
    experiment, runs = two_variant_experiment([True] * 6, [False] * 6)
    third = run(0, "third", exact=True, latency=1.0)
    experiment.variants.append(experiment.variants[0].model_copy(update={"name": "third"}))

    pairs = compare_for_report(experiment, [*runs, third])

    assert [(p.a, p.b) for p in pairs] == [("pre", "raw"), ("pre", "third")]
    assert pairs[1].result["metrics"]["vote_count_exact"]["n_pairs"] == 1
    page = render_report(experiment, [*runs, third], images=NoImages())
    assert "<caption>raw against pre</caption>" in page and "<caption>third against pre</caption>" in page
    assert page.count("<svg class='forest'") == 2


def test_a_baseline_experiment_is_what_each_variant_is_compared_with():
    # Eight pairs all one way: McNemar p = 2 / 2**8 = 0.0078, Holm among the three metrics at most
    # 3 x that = 0.023 < 0.05. (Six were enough before the correction: p = 0.031, x 3 = 0.094 is not.)
    base, base_runs = two_variant_experiment([True] * 8, [True] * 8, a="raw", b="other")
    base = base.model_copy(update={"experiment_id": "exp-base"})
    experiment, runs = two_variant_experiment([True] * 8, [False] * 8)

    pairs = compare_for_report(experiment, runs, (base, base_runs))

    assert [(p.a, p.b) for p in pairs] == [("exp-base:raw", "exp-report:raw")]  # pre has no namesake there
    assert pairs[0].result["metrics"]["vote_count_exact"]["verdict"] == "worse"


def test_figures_constant_across_variants_fold_into_one_line():
    experiment, runs = a_real_difference()

    page = render_report(experiment, runs, images=NoImages())

    assert "The same for every variant, on every run: cost_usd $0, input_tokens 0, output_tokens 0." in text_of(page)
    assert "<figcaption>cost_usd</figcaption>" not in page and "<figcaption>vote_count_exact</figcaption>" in page


def test_one_variant_has_nothing_to_compare():
    experiment, runs = a_real_difference()
    experiment.variants = experiment.variants[:1]

    page = render_report(experiment, [r for r in runs if r.variant == "pre"], images=NoImages())

    assert "nothing to compare" in page


def test_no_difference_at_all_is_not_estimable():
    experiment, runs = two_variant_experiment([True] * 10, [True] * 10)

    page = render_report(experiment, runs, images=NoImages())

    assert table_row(page, "vote_count_exact")["records-needed"] == ""
    assert "not estimable (no difference)" in page
    assert "Closest" not in text_of(page).split("Metrics per variant")[0].split("latency_ms:")[0]


def test_hostile_names_and_missing_values_are_escaped_and_do_not_crash():
    experiment, runs = two_variant_experiment(
        [True] * 6, [False] * 6, a="<script>alert(1)</script>", b="b'><img src=x>", name="<b>x</b>"
    )
    experiment.summary["b'><img src=x>"]["vote_count_exact"] = {"mean": math.nan, "ci_low": None, "ci_high": 1}
    experiment.summary["<script>alert(1)</script>"]["count_error"] = {"mean": None, "ci_low": 0, "ci_high": 1}
    experiment.summary["<script>alert(1)</script>"]["latency_ms"]["ci_low"] = math.inf

    page = render_report(experiment, runs, images=NoImages())

    assert "<script" not in page and "<img src=x>" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    sentences = pair_sentences(
        PairComparison("<i>", "</b>", {"metrics": {"m": {"verdict": "better", "p_value": 0.01}}})
    )
    assert "<i>" not in sentences[0] and "&lt;/b&gt;" in sentences[0]


@pytest.mark.parametrize(
    ("label", "value", "written"),
    [
        ("vote_count_exact", 0.75, "75%"),
        ("vote_count_accuracy", 0.9583333, "95.8%"),
        ("vote_count_exact", 1.0, "100%"),
        ("latency_ms", 1234.56, "1,235 ms"),
        ("cost_usd", 0.0, "$0"),
        ("cost_usd", 0.001234, "$0.0012"),
        ("cost_usd", 12.5, "$12.50"),
        ("count_error", 1.5, "1.5"),
        ("input_tokens", 1300.0, "1,300"),
        ("vote_count_exact", math.nan, "n/a"),
        ("vote_count_exact", None, "n/a"),
        ("latency_ms", math.inf, "n/a"),
    ],
)
def test_values_are_written_by_kind(label, value, written):
    assert format_value(value, unit_of(label)) == written


def test_differences_intervals_and_p_values_are_written_for_reading():
    assert format_difference(-0.25, "rate") == "\u221225 pp"
    assert format_difference(0.125, "rate") == "+12.5 pp"
    assert format_difference(-558.2, "ms") == "\u2212558 ms"
    assert format_difference(0.0, "count") == "\u00b10"
    assert format_interval(-0.4, -0.1, "rate", signed=True) == "[\u221240 pp, \u221210 pp]"
    assert format_interval(None, 0.1, "rate") == "n/a"
    assert (format_p(0.0312), format_p(0.25), format_p(1.0), format_p(0.0004)) == (
        "= 0.031",
        "= 0.25",
        "= 1",
        "< 0.001",
    )


def test_the_table_marks_the_primary_metric_and_shows_raw_and_holm_p_and_the_mde():
    experiment, runs = three_discordant_of_24()
    experiment.primary_metric = "vote_count_exact"

    page = render_report(experiment, runs, images=NoImages())

    exact = table_row(page, "vote_count_exact")
    assert exact["primary"] == "true" and "primary" not in table_row(page, "count_error")
    assert float(exact["p-adjusted"]) >= float(exact["p-value"])
    # 24 pairs, 3 discordant (0.125 < d, so psi = d): d = 0.2962 solves Connor's formula, by hand
    # sqrt(24) * 0.2962 = 1.4510 = 1.959964 * sqrt(0.2962) + 0.841621 * sqrt(0.2962 - 0.2962**2) = 1.0667 + 0.3843
    assert float(exact["mde"]) == pytest.approx(0.2962, abs=1e-4)
    first = text_of(page.split("<li class='verdict'>", 1)[1].split("</li>", 1)[0])
    assert "Holm-corrected" in first
    assert "The primary metric, vote_count_exact, could have shown a true difference of 29.6 pp or more" in first
    assert "<th>p (raw)</th><th>p (Holm)" in page and "<b>*MDE</b>" in page
