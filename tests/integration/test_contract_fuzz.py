"""openapi.yaml holds for generated input: Schemathesis against a real gateway on the emulators.

Every operation (but the excluded ones, `infra.local.contract_fuzz.EXCLUDED_PATHS`, each with its
reason) gets its examples, the coverage phase's boundary values, a few dozen generated requests
valid and invalid, and stateful sequences along the document's links (extract -> feedback,
dataset -> entries -> publish -> experiment). Every check Schemathesis has: no 5xx; documented
status codes, content types, headers and bodies; invalid input answered 4xx, schema-valid input
accepted; an undeclared method 405 with `Allow`, and `Allow` naming the documented methods; a
created resource found. What OpenAPI cannot state is set aside per operation and check, each with
its reason (`infra.local.contract_fuzz.EXCLUSIONS`). The seed is fixed, so CI sends the same
requests every run. `bench/contract_fuzz.py` is the deep run (thousands of requests).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from infra.local.contract_fuzz import EXCLUDED_PATHS, EXCLUSIONS, run_contract_fuzz
from infra.local.emulators import EmulatorProcess, LocalStack, reset_firestore
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import FakeGeminiServer
from tests.integration.processes import start_gateway

MAX_EXAMPLES = 20  # per operation and phase: about 2 minutes on 2 cores
SEED = 20261201


@pytest.fixture(scope="module")
def fuzzed_gateway(
    local_stack: LocalStack, fake_gemini: FakeGeminiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    reset_firestore(local_stack.firestore_host, local_stack.project)
    process: EmulatorProcess
    process, url = start_gateway(tmp_path_factory.mktemp("fuzzed-gateway"))
    yield url
    process.stop()
    # Thousands of generated records, among them enabled schedules that a later test's scheduler
    # run would start: none of it may outlive this module.
    reset_firestore(local_stack.firestore_host, local_stack.project)


def test_every_operation_answers_as_the_document_says_for_generated_input(fuzzed_gateway: str, tmp_path: Path):
    outcome = run_contract_fuzz(
        fuzzed_gateway, api_key=TEST_API_KEY, report_dir=tmp_path, max_examples=MAX_EXAMPLES, seed=SEED
    )

    summary = outcome.summary_line()
    (tmp_path / "summary.txt").write_text(summary + "\n")
    print(outcome.output)
    print("excluded: " + "; ".join(f"{path} ({why})" for path, why in EXCLUDED_PATHS.items()))
    print("set aside: " + "; ".join(f"{e.operation_id} {e.check} ({e.reason})" for e in EXCLUSIONS))
    print(summary)
    counted = re.fullmatch(
        r"contract fuzz: (\d+) operations, (\d+) requests .*, 0 failures, 0 errors in \d+ s", summary
    )
    assert counted and outcome.exit_code == 0, (
        f"{summary} ({', '.join(outcome.failure_codes)}); Schemathesis said:\n{outcome.output[-8000:]}"
    )
    assert int(counted[1]) >= 40 and int(counted[2]) >= 1000, summary


FORM_TYPE_EXAMPLES = 60  # three operations: about half a minute


def test_the_form_type_endpoints_hold_for_generated_input(fuzzed_gateway: str, tmp_path: Path):
    """The form types' own run, deeper than the whole API's: generated names, keys, labels and
    rules (valid, hostile and malformed) answer 201, 4xx with the error body, or the stored type;
    never a 5xx, and what is listed is what the document says a form type is."""
    outcome = run_contract_fuzz(
        fuzzed_gateway,
        api_key=TEST_API_KEY,
        report_dir=tmp_path,
        max_examples=FORM_TYPE_EXAMPLES,
        seed=SEED,
        include_path_regex="^/extract/form-types",
    )

    summary = outcome.summary_line()
    print(outcome.output)
    print(summary)
    assert outcome.exit_code == 0 and outcome.failures == 0 and outcome.errors == 0, (
        f"{summary} ({', '.join(outcome.failure_codes)}); Schemathesis said:\n{outcome.output[-8000:]}"
    )
    assert outcome.operations == 3 and outcome.requests >= 150, summary


def test_healthz_takes_get_only(fuzzed_gateway: str):
    """Found by the fuzz's unsupported_method check: TRACE /healthz answered 200."""
    traced = requests.request("TRACE", f"{fuzzed_gateway}/healthz", timeout=30)
    posted = requests.post(f"{fuzzed_gateway}/healthz", timeout=30)

    assert traced.status_code == 405 and traced.headers["Allow"] == "GET"
    assert posted.status_code == 405 and posted.json()["error"]["code"] == "method_not_allowed"
