"""The README and openapi.yaml are checked, so they cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import configuration_table
from tests.openapi_contract import assert_matches_contract

ROOT = Path(__file__).resolve().parents[2]


def test_readme_configuration_table_is_the_generated_one():
    assert configuration_table() in (ROOT / "README.md").read_text(), (
        "README.md's configuration table is stale: paste `.venv/bin/python -m shared.config` into it"
    )


def test_readme_names_the_two_commands_and_ci_calls_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./deploy.sh local" in readme and "./deploy.sh test" in readme
    assert "./deploy.sh test" in (ROOT / ".ci" / "run").read_text()


def test_contract_check_rejects_a_body_that_breaks_the_schema():
    with pytest.raises(AssertionError, match="breaks openapi.yaml"):
        assert_matches_contract("/extract", "POST", 200, {"extraction_id": "x", "status": "maybe"})
    with pytest.raises(AssertionError, match="breaks openapi.yaml"):
        assert_matches_contract("/extract", "POST", 422, {"error": {"code": "Bad Code", "message": ""}})
