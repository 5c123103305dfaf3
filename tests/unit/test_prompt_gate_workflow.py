"""The CI workflow runs the gate with the deployment's URL and key from secrets, and nothing else secret."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "prompt-gate.yml"
SECRETS = {"VOTE_EXTRACTOR_API_URL", "VOTE_EXTRACTOR_API_KEY"}


def steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    [job] = workflow["jobs"].values()
    return job["steps"]


def test_the_workflow_runs_the_gate_on_pull_requests_and_reports_it():
    [gate] = [step for step in steps() if "python -m frontend.cli gate" in step.get("run", "")]
    installs = [step for step in steps() if "pip install" in step.get("run", "")]
    [upload] = [step for step in steps() if str(step.get("uses", "")).startswith("actions/upload-artifact")]

    assert installs and any(str(step.get("uses", "")).startswith("actions/setup-python") for step in steps())
    assert gate["env"] == {
        "API_BASE_URL": "${{ secrets.VOTE_EXTRACTOR_API_URL }}",
        "API_KEY": "${{ secrets.VOTE_EXTRACTOR_API_KEY }}",
    }
    assert '>> "$GITHUB_STEP_SUMMARY"' in gate["run"] and "--summary gate-summary.md" in gate["run"]
    assert "--junit gate-junit.xml" in gate["run"] and upload["with"]["path"] == "gate-junit.xml"
    assert upload["if"] == "always()"
    assert "exit $code" in gate["run"] and "could not decide" in gate["run"]


def test_the_workflow_names_only_the_two_secrets_and_stores_no_key():
    text = WORKFLOW.read_text()

    assert set(re.findall(r"secrets\.([A-Za-z0-9_]+)", text)) == SECRETS
    assert "local-dev-key" not in text and "--api-key" not in text and "--base-url" not in text
    assert not re.search(r"https?://", text)
