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

# Every check asked for: no 5xx, only documented status codes and content types, bodies that match
# their schema, and invalid input (the negative mode's requests) answered with a 4xx.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)

# Operations not fuzzed, with why.
EXCLUDED_PATHS = {
    # Cloud Scheduler's target: it starts every due schedule and resends every evaluation Datadog
    # has not taken, for the whole project; its body is ignored and its one header (the slot) is
    # a date. Fuzzing it only repeats that side effect; tests/integration/test_schedules.py covers it.
    "/experiments-scheduled": "Cloud Scheduler's OIDC-protected target (a project-wide side effect, no input)",
}


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
) -> FuzzOutcome:
    """Run Schemathesis over openapi.yaml against the gateway at `url`; never raises on failures.

    Deterministic for a given seed and spec (`--generation-deterministic`): CI sees the same
    requests each time. The HAR report (every request and answer) is kept in `report_dir`.
    `include_path_regex` fuzzes only the operations whose path it matches (a resource's own run).
    One worker by default: with two, Hypothesis describing a filter's lambda in two threads at
    once hit CPython 3.11's "SystemError: AST constructor recursion depth mismatch" (a
    Schemathesis runtime error, not a finding).
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    json_report, har_report = report_dir / f"run-{seed}.json", report_dir / f"run-{seed}.har"
    # No crash cache: it replays earlier runs' failures first, so two runs of one seed would differ.
    config = report_dir / "schemathesis.toml"
    config.write_text("[cache]\nenabled = false\n")
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
        "--checks",
        ",".join(CHECKS),
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--generation-deterministic",
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
