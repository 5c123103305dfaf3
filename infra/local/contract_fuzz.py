"""Property-based contract testing: Schemathesis sends generated requests, valid and invalid, to a
running gateway and checks every answer against `openapi.yaml`.

Used by the contract test (`tests/contract`, a few dozen examples per operation) and by the deep
run (`bench/contract_fuzz.py`, thousands of requests). Schemathesis runs as its own process (its
CLI), so its Hypothesis settings, threads and output stay out of the caller's.

    run_contract_fuzz(url, api_key=..., report_dir=..., max_examples=25, seed=1)
    run_contract_fuzz(..., include_path_regex="^/extract/form-types")  # one resource, deeper
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi.yaml"

# Every check Schemathesis has (`[checks] enabled = true`): no 5xx; documented status codes, content
# types, headers and bodies; invalid input answered 4xx and schema-valid input never 400/413/415/422
# (positive_data_acceptance); a missing required header refused; an undeclared method 405 with
# `Allow`, and `Allow` listing exactly the documented methods; a created resource found, a deleted
# one gone; auth enforced.
ALL_CHECKS = "all"

# Operations not fuzzed, with why.
EXCLUDED_PATHS = {
    # Cloud Scheduler's target: it starts every due schedule and resends every evaluation Datadog
    # has not taken, for the whole project; its body is ignored and its one header (the slot) is
    # a date. Fuzzing it only repeats that side effect; tests/integration/test_schedules.py covers it.
    "/experiments-scheduled": "Cloud Scheduler's OIDC-protected target (a project-wide side effect, no input)",
}


@dataclass(frozen=True)
class Exclusion:
    """One check set aside for one operation (by operationId), because the rule it would hold the
    server to is one OpenAPI cannot state. `also_accepted`: rather than switching the check off,
    the statuses that schema-valid input may also get (positive_data_acceptance only)."""

    operation_id: str
    check: str
    reason: str
    also_accepted: tuple[int, ...] = ()


_OPAQUE_TOKEN = (
    "page_token is opaque (the last key of a page, encoded): any string is schema-valid, only the ones "
    "this API gave out are taken, the rest are 400; every other argument is still held to 2xx"
)
_PAGED = ("listExtractions", "reviewQueue", "getVersion", "listExperiments", "getExperimentResults")

_REGISTRIES = (
    "models, prompt versions, evaluators (and their params) and form types must name what exists, sets "
    "that change at run time (GET /experiments/options, /experiments/prompts, /extract/form-types); and "
    "rules across fields: variant names distinct"
)

# GET /extract?form_type= names a form type that exists (a registry that changes at run time): 422 otherwise.
_FORM_TYPE_FILTER = "; form_type names a form type that exists (GET /extract/form-types), else 422"

EXCLUSIONS: tuple[Exclusion, ...] = (
    *(
        Exclusion(operation, "positive_data_acceptance", _OPAQUE_TOKEN, also_accepted=(400,))
        for operation in _PAGED
        if operation != "listExtractions"
    ),
    Exclusion(
        "listExtractions", "positive_data_acceptance", _OPAQUE_TOKEN + _FORM_TYPE_FILTER, also_accepted=(400, 422)
    ),
    Exclusion(
        "listAlerts",
        "positive_data_acceptance",
        "schedule_id and experiment_id exclude each other: a rule across two query arguments",
    ),
    Exclusion(
        "reviewAccuracy",
        "positive_data_acceptance",
        "since comes before until, at most 366 days apart (by=week: 26 weeks), both from 1970 to 2999: rules "
        "across query arguments and a range a date pattern cannot state",
        also_accepted=(400,),
    ),
    Exclusion(
        "compareExperiment",
        "positive_data_acceptance",
        "?a=&b= (both) or ?baseline= (variant only with it): a rule across query arguments; a and b name the "
        "experiment's own variants, and primary a metric the comparison has (400 otherwise)",
    ),
    Exclusion(
        "compareExperimentsSideBySide",
        "positive_data_acceptance",
        "ids are distinct and baseline is one of them: rules across a list's items and two query arguments",
        also_accepted=(400,),
    ),
    Exclusion(
        "getScheduleTrend",
        "positive_data_acceptance",
        "metric names one the schedule's runs measure: what exists, not a pattern",
        also_accepted=(422,),
    ),
    Exclusion(
        "createExtraction",
        "positive_data_acceptance",
        "the image's bytes must be PNG, JPEG, WebP or TIFF, and a form's params, expected and tags are JSON "
        "inside text: neither is JSON Schema; model, prompt_version and form_type name what exists",
    ),
    Exclusion(
        "createFormType",
        "positive_data_acceptance",
        "a rule's expression (a grammar of its own) names the type's own statistic keys, unique: rules across fields",
    ),
    Exclusion(
        "createPromptVersion",
        "positive_data_acceptance",
        "the template's {{variables}} are exactly the declared variables: a rule across two fields",
    ),
    Exclusion(
        "createJudgeVersion",
        "positive_data_acceptance",
        "classes and pass_classes go with output categorical only, 2-10 distinct classes, pass_classes among "
        "them: rules across fields; an example names a stored extraction that has a result",
    ),
    Exclusion(
        "alignJudge",
        "positive_data_acceptance",
        "aligning needs reviewed decisions in both the learn and the held-out set (the review queue's state) "
        "and a Gemini key: no schema can say either",
    ),
    Exclusion(
        "importEntries",
        "positive_data_acceptance",
        "the body is CSV or JSON Lines: its columns and each line's entry are no JSON Schema",
    ),
    Exclusion(
        "reviewDecision",
        "positive_data_acceptance",
        "corrections and target go with approve only, and approve needs a target: rules across fields; "
        "corrections name the extraction's form type's keys",
    ),
    Exclusion(
        "createFeedback",
        "positive_data_acceptance",
        "corrections name the extraction's own form type's statistic keys (a rule across resources)",
    ),
    Exclusion(
        "addEntries",
        "positive_data_acceptance",
        "an entry's image_base64 must decode to a PNG, JPEG, WebP or TIFF and its image_uri name a stored "
        "image (bytes and other resources), and its expected output's statistics are its form type's keys",
    ),
    Exclusion(
        "updateEntry",
        "positive_data_acceptance",
        "the expected output's statistics are the entry's form type's keys (a rule across resources)",
    ),
    Exclusion(
        "createDataset",
        "positive_data_acceptance",
        "metadata holds Firestore's rules at every depth (keys, no array directly in an array, 64-bit integers, "
        "16 levels): a recursive schema, which the generated client (openapi-python-client) cannot read, so the "
        "document says it in words",
    ),
    Exclusion(
        "createExtraction",
        "negative_data_rejection",
        "a multipart form's fields are text on the wire: a generated null or array for params or expected "
        "leaves as the text null or as no part at all, which is valid",
    ),
    *(
        Exclusion(
            operation,
            "ensure_resource_availability",
            "its 404 can name what the body refers to (an extraction by span and trace, an extraction id, a "
            "prompt or judge version) when the generated body names one never made; the link's resource is there",
        )
        for operation in ("addFromTrace", "addCandidates", "movePromptLabel", "alignJudge")
    ),
    Exclusion(
        "startExperiment",
        "positive_data_acceptance",
        _REGISTRIES + "; primary_metric among the evaluators' labels (400 otherwise)",
    ),
    Exclusion(
        "createSchedule",
        "positive_data_acceptance",
        _REGISTRIES + "; thresholds.quality_metric among the evaluators; a pinned baseline names its experiment",
    ),
    Exclusion(
        "updateSchedule",
        "positive_data_acceptance",
        _REGISTRIES + "; the changed schedule is checked whole, as a new one (rules across stored and given fields)",
    ),
)


def schemathesis_config(exclusions: tuple[Exclusion, ...] = EXCLUSIONS) -> str:
    """The TOML Schemathesis runs with: every check, no crash cache (it replays earlier runs'
    failures first, so two runs of one seed would differ), and the exclusions by operation."""
    lines = ["[cache]", "enabled = false", "", "[checks]", "enabled = true", ""]
    by_operation: dict[str, list[Exclusion]] = {}
    for exclusion in exclusions:
        by_operation.setdefault(exclusion.operation_id, []).append(exclusion)
    # One `[[operations]]` entry an operation: Schemathesis takes the first entry that matches.
    for operation_id, excluded in by_operation.items():
        lines += ["[[operations]]", f'include-operation-id = "{operation_id}"']
        for exclusion in excluded:
            if exclusion.also_accepted:
                statuses = [*POSITIVE_DATA_ACCEPTED, *(str(status) for status in exclusion.also_accepted)]
                lines.append(f"checks.{exclusion.check}.expected-statuses = {json.dumps(statuses)}")
            else:
                lines.append(f"checks.{exclusion.check}.enabled = false")
        lines.append("")
    return "\n".join(lines)


# Schemathesis's own default for positive_data_acceptance: what a schema-valid request may get.
POSITIVE_DATA_ACCEPTED = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")


@dataclass(frozen=True)
class FuzzOutcome:
    """What one Schemathesis run did and found."""

    operations: int
    test_cases: int
    requests: int
    failures: int
    errors: int
    seconds: float
    exit_code: int
    output: str
    failure_codes: tuple[str, ...]

    def summary_line(self) -> str:
        return (
            f"contract fuzz: {self.operations} operations, {self.requests} requests "
            f"({self.test_cases} test cases), {self.failures} failures, {self.errors} errors "
            f"in {self.seconds:.0f} s"
        )


def run_contract_fuzz(
    url: str,
    *,
    api_key: str,
    report_dir: Path,
    max_examples: int,
    seed: int,
    workers: int = 1,
    phases: str = "examples,coverage,fuzzing,stateful",
    timeout_s: float = 1800,
    include_path_regex: str | None = None,
    deterministic: bool = True,
) -> FuzzOutcome:
    """Run Schemathesis over openapi.yaml against the gateway at `url`; never raises on failures.

    Deterministic (`--generation-deterministic`): CI sees the same requests each time, whatever the
    seed. `deterministic=False` lets the seed choose them instead (the deep run's seeds then
    differ). The HAR report (every request and answer) is kept in `report_dir`.
    `include_path_regex` fuzzes only the operations whose path it matches (a resource's own run).
    One worker by default: with two, Hypothesis describing a filter's lambda in two threads at
    once hit CPython 3.11's "SystemError: AST constructor recursion depth mismatch" (a
    Schemathesis runtime error, not a finding).
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    json_report, har_report = report_dir / f"run-{seed}.json", report_dir / f"run-{seed}.har"
    config = report_dir / "schemathesis.toml"
    config.write_text(schemathesis_config())
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(SPEC),
        "--url",
        url,
        "--header",
        f"X-API-Key: {api_key}",
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--request-timeout",
        "60",
        "--continue-on-failure",
        "--no-color",
        "--report",
        "json,har",
        "--report-json-path",
        str(json_report),
        "--report-har-path",
        str(har_report),
    ]
    if deterministic:
        command.append("--generation-deterministic")
    for path in EXCLUDED_PATHS:
        command += ["--exclude-path", path]
    if include_path_regex is not None:
        command += ["--include-path-regex", include_path_regex]
    started = time.monotonic()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    seconds = time.monotonic() - started
    output = finished.stdout + finished.stderr
    if not json_report.exists():
        raise RuntimeError(f"Schemathesis wrote no report (exit {finished.returncode}):\n{output[-4000:]}")
    report = json.loads(json_report.read_text())
    requests_sent = len(json.loads(har_report.read_text())["log"]["entries"]) if har_report.exists() else 0
    failures = report["failures"]
    return FuzzOutcome(
        operations=report["operations"]["tested"],
        test_cases=report["test_cases"]["generated"],
        requests=requests_sent,
        failures=sum(failure.get("count", 1) for failure in failures),
        errors=len(report["errors"]),
        seconds=seconds,
        exit_code=finished.returncode,
        output=output,
        failure_codes=tuple(sorted({failure["code"] for failure in failures})),
    )
