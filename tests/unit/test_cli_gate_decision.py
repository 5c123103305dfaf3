"""The gate's decision, Markdown and JUnit from a comparison as /compare answers it (no HTTP here:
tests/integration/test_cli_gate.py runs the whole gate against a real gateway)."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET

import pytest

from frontend.cli.gate import GateOutcome, GateRequest, decide, experiment_plan
from frontend.cli.gate_report import junit_xml, markdown
from frontend.cli.spec_file import experiment_body
from frontend.cli.variants import LOWER_IS_BETTER, parse_floor, parse_variant
from shared.experiments import summary


def metric(verdict: str, a: float, b: float, p: float, p_adjusted: float | None = None) -> dict:
    return {
        "a_mean": a,
        "b_mean": b,
        "delta": b - a,
        "ci_low": b - a - 0.05,
        "ci_high": b - a + 0.05,
        "p_value": p,
        "p_adjusted": p_adjusted,
        "test": "mcnemar_exact",
        "verdict": verdict,
    }


COMPARED = {
    "a": "on",
    "b": "off",
    "correction": "holm",
    "metrics": {
        "vote_count_exact": metric("worse", 1.0, 0.4, 0.0001, 0.0004),
        "candidate_f1": metric("no_significant_difference", 0.99, 0.98, 0.2, 0.4),
        "count_error": metric("worse", 0.0, 3.5, 0.001, 0.003),
    },
}
STATUS = {
    "status": "completed",
    "progress": {"done": 48, "total": 48, "failed": 0},
    "summary": {"off": {"vote_count_exact": {"mean": 0.4}, "count_error": {"mean": 3.5}}},
}


def outcome_for(compared: dict, **request_fields) -> GateOutcome:
    request = GateRequest(
        dataset={"name": "demo_forms", "version": "v1"},
        candidate=parse_variant("off:tesseract:deskew=false,remove_lines=false"),
        baseline=parse_variant("on:tesseract:deskew=true,remove_lines=true"),
        **request_fields,
    )
    outcome = GateOutcome("undecided", "", request, experiment_id="exp1", compared=compared, status=STATUS)
    return decide(outcome, candidate_name="off")


def test_a_significantly_worse_metric_fails_the_gate_and_is_named_first():
    outcome = outcome_for(COMPARED, primary="candidate_f1")

    assert (outcome.decision, outcome.exit_code) == ("fail", 1)
    assert outcome.regressions == ["count_error", "vote_count_exact"]
    text = markdown(outcome, base_url="http://api.example/")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "mean |" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["count_error", "vote_count_exact", "candidate_f1 (primary)"]
    assert "FAIL" in text and "0.0004" in text and "**worse**" in text
    assert "http://api.example/experiments/exp1/report" in text


def test_no_worse_metric_and_held_floors_pass():
    compared = {"metrics": {"candidate_f1": COMPARED["metrics"]["candidate_f1"]}}

    outcome = outcome_for(compared, floors=[parse_floor("vote_count_exact=0.3"), parse_floor("count_error=4")])

    assert (outcome.decision, outcome.exit_code) == ("pass", 0), outcome.reason
    assert [str(result.floor) for result in outcome.floors] == ["vote_count_exact >= 0.3", "count_error <= 4"]


def test_an_unheld_floor_fails_even_without_a_regression_and_an_unmeasured_one_cannot_decide():
    compared = {"metrics": {"candidate_f1": COMPARED["metrics"]["candidate_f1"]}}

    failed = outcome_for(compared, floors=[parse_floor("vote_count_exact=0.9")])
    unmeasured = outcome_for(compared, floors=[parse_floor("ragas_faithfulness=0.5")])
    nothing = outcome_for({"metrics": {}})

    assert (failed.exit_code, failed.reason) == (1, "floor not held: vote_count_exact >= 0.9")
    assert unmeasured.exit_code == 2 and "ragas_faithfulness" in unmeasured.reason
    assert nothing.exit_code == 2


def test_junit_has_one_testcase_per_metric_and_floor_with_failures_for_regressions():
    outcome = outcome_for(COMPARED, floors=[parse_floor("vote_count_exact=0.9")])

    suite = ET.fromstring(junit_xml(outcome)).find("testsuite")

    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"vote_count_exact", "candidate_f1", "count_error", "vote_count_exact >= 0.9"}
    failing = sorted(name for name, case in cases.items() if case.find("failure") is not None)
    assert failing == ["count_error", "vote_count_exact", "vote_count_exact >= 0.9"]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")


def test_variant_syntax_with_params_and_a_prompt_label():
    assert parse_variant("on:tesseract:deskew=true,remove_lines=false,dpi=300@prompt_b@production") == {
        "name": "on",
        "model": "tesseract",
        "params": {"deskew": True, "remove_lines": False, "dpi": 300},
        "prompt_version": "prompt_b@production",
    }
    assert parse_variant("flash:gemini-2.5-flash") == {"name": "flash", "model": "gemini-2.5-flash", "params": {}}
    for bad in ("nomodel", ":tesseract", "x:tesseract:deskew"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_variant(bad)


def test_the_client_knows_the_same_lower_is_better_metrics_as_the_product():
    assert LOWER_IS_BETTER == summary.LOWER_IS_BETTER


def test_an_experiment_file_becomes_a_post_body():
    body = experiment_body(
        {
            "dataset": "demo_forms@v1",
            "variants": ["on:tesseract", {"name": "x", "model": "tesseract"}],
            "repetitions": 2,
        },
        source="exp.toml",
    )

    assert body == {
        "name": "exp",
        "dataset": {"name": "demo_forms", "version": "v1"},
        "variants": [{"name": "on", "model": "tesseract", "params": {}}, {"name": "x", "model": "tesseract"}],
        "repetitions": 2,
    }


def test_the_gate_plans_one_experiment_and_the_comparison_that_judges_it():
    same = parse_variant("on:tesseract:deskew=true,remove_lines=true")
    request = GateRequest(
        dataset={"name": "demo_forms", "version": "v1"}, candidate=same, baseline=same, primary="vote_count_exact"
    )

    body, compare_params = experiment_plan(None, request)  # no call is needed when the dataset is given

    assert [v["name"] for v in body["variants"]] == ["on-baseline", "on-candidate"]
    assert compare_params == {"a": "on-baseline", "b": "on-candidate", "primary": "vote_count_exact"}
    assert body["primary_metric"] == "vote_count_exact" and body["dataset"] == request.dataset
    against_experiment = GateRequest(dataset=request.dataset, candidate=same, baseline_experiment_id="exp0")
    body, compare_params = experiment_plan(None, against_experiment)
    assert body["baseline_experiment_id"] == "exp0" and [v["name"] for v in body["variants"]] == ["on"]
    assert compare_params == {"baseline": "exp0", "variant": "on"}


def test_the_gates_form_type_goes_on_every_variant_it_runs():
    same = parse_variant("on:tesseract")
    both = GateRequest(dataset={"name": "ec8a", "version": "v1"}, candidate=same, baseline=same, form_type="ng_ec8a@1")
    against_experiment = GateRequest(
        dataset=both.dataset, candidate=same, baseline_experiment_id="exp0", form_type="ng_ec8a"
    )

    body, _ = experiment_plan(None, both)
    alone, _ = experiment_plan(None, against_experiment)
    untyped, _ = experiment_plan(None, GateRequest(dataset=both.dataset, candidate=same, baseline=same))

    assert [v["form_type"] for v in body["variants"]] == ["ng_ec8a@1", "ng_ec8a@1"]
    assert [v["form_type"] for v in alone["variants"]] == ["ng_ec8a"]
    assert all("form_type" not in v for v in untyped["variants"])  # each entry's own type
