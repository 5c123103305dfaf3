"""The gate's outcome for people (Markdown: a PR comment, $GITHUB_STEP_SUMMARY) and for CI (JUnit XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from frontend.cli.gate import GateOutcome
from frontend.cli.tables import comparison_rows, correction_name, number, p_text

HEADLINES = {
    "pass": "PASS: no regression",
    "fail": "FAIL: the candidate regressed",
    "undecided": "COULD NOT DECIDE",
}


def variant_text(variant: dict[str, Any] | None) -> str:
    if not variant:
        return "-"
    params = ",".join(
        f"{key}={str(value).lower() if isinstance(value, bool) else value}"
        for key, value in (variant.get("params") or {}).items()
    )
    prompt = f"@{variant['prompt_version']}" if variant.get("prompt_version") else ""
    return f"`{variant['name']}:{variant['model']}{':' + params if params else ''}{prompt}`"


def markdown(outcome: GateOutcome, *, base_url: str) -> str:
    request = outcome.request
    baseline = (
        f"experiment `{request.baseline_experiment_id}`"
        if request.baseline_experiment_id
        else variant_text(request.baseline)
    )
    dataset = request.dataset or ((outcome.status or {}).get("dataset"))
    lines = [
        f"## Prompt gate: {HEADLINES[outcome.decision]}",
        "",
        f"**Why:** {outcome.reason.rstrip('.')}.",
        "",
        f"- candidate: {variant_text(request.candidate)}",
        f"- baseline: {baseline}",
        f"- dataset: `{dataset['name']}@{dataset['version']}`" if dataset else "- dataset: -",
    ]
    if outcome.experiment_id:
        progress = (outcome.status or {}).get("progress") or {}
        lines += [
            f"- experiment: `{outcome.experiment_id}` ({progress.get('done', '?')}/{progress.get('total', '?')} runs, "
            f"{progress.get('failed', '?')} failed); report: "
            f"{base_url.rstrip('/')}/experiments/{outcome.experiment_id}/report",
        ]
    if outcome.compared:
        lines += ["", *_metrics_table(outcome)]
    if outcome.floors:
        lines += ["", "| floor | candidate mean | holds |", "|---|---|---|"]
        lines += [
            f"| `{result.floor}` | {number(result.mean)} | {'yes' if result.holds else '**no**'} |"
            for result in outcome.floors
        ]
    return "\n".join(lines) + "\n"


def _metrics_table(outcome: GateOutcome) -> list[str]:
    compared = outcome.compared or {}
    correction = compared.get("correction")
    note = (
        f"p adjusted over the {len(compared.get('metrics', {}))} metrics ({correction_name(correction)})"
        if correction
        else "adjusted p: not given by this API version"
    )
    lines = [
        f"Delta = candidate - baseline with its 95% interval; {note}; verdicts at alpha {compared.get('alpha', 0.05)}.",
        "",
        "| metric | baseline mean | candidate mean | delta | 95% CI | raw p | adjusted p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison_rows(compared, outcome.primary):
        verdict = f"**{row['verdict']}**" if row["verdict"] == "worse" else row["verdict"]
        lines.append(
            f"| {row['metric']} | {row['a']} | {row['b']} | {row['delta']} | {row['ci']} | {row['p']} | "
            f"{row['p_adjusted']} | {verdict} |"
        )
    return lines


def junit_xml(outcome: GateOutcome) -> str:
    """One testcase per gated metric and per floor; a regression or an unheld floor is a failure,
    and when the gate could not decide, one errored testcase says why."""
    suite = ET.Element("testsuite", name="prompt-gate")
    failures = errors = 0
    for label, metric in sorted(((outcome.compared or {}).get("metrics") or {}).items()):
        case = ET.SubElement(suite, "testcase", classname="prompt-gate.metrics", name=label)
        if metric.get("verdict") == "worse":
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{label} is significantly worse", type="regression")
            failure.text = (
                f"baseline mean {number(metric.get('a_mean'))}, candidate mean {number(metric.get('b_mean'))}, "
                f"delta {number(metric.get('delta'))} "
                f"[{number(metric.get('ci_low'))}, {number(metric.get('ci_high'))}], "
                f"raw p {p_text(metric.get('p_value'))}, adjusted p {p_text(metric.get('p_adjusted'))}"
            )
    for result in outcome.floors:
        case = ET.SubElement(suite, "testcase", classname="prompt-gate.floors", name=str(result.floor))
        if not result.holds:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"floor {result.floor} does not hold", type="floor")
            failure.text = f"candidate mean {number(result.mean)}"
    if outcome.decision == "undecided":
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="prompt-gate", name="decision")
        ET.SubElement(case, "error", message=f"could not decide: {outcome.reason}", type="undecided")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
