"""`python -m frontend.cli` against a real gateway process, as a person or CI runs it.

The gate's acceptance: on the seeded demo dataset (`infra/local/seed_dataset.py`, what
`./deploy.sh local` seeds: 24 tilted, blurred forms), the offline Tesseract model without
preprocessing is significantly worse than with it after Holm's correction (exit 1, named in the
Markdown and JUnit reports); the same reading as its own baseline is not (exit 0); an API that is
not there is "could not decide" (exit 2).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from frontend.cli.main import main
from infra.local.emulators import free_ports
from infra.local.seed_dataset import NAME, VERSION, seed
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.builders import published_dataset, truth_responder
from tests.integration.processes import start_shard_pipeline

ROOT = Path(__file__).resolve().parents[2]
DEMO_ENTRIES = 24  # what `./deploy.sh local` seeds
ON = "on:tesseract:deskew=true,remove_lines=true"
OFF = "off:tesseract:deskew=false,remove_lines=false"
EVALUATORS = ["vote_count_accuracy", "vote_count_exact", "candidate_f1", "count_error"]


@pytest.fixture(scope="module")
def gateway(local_stack, fake_gemini, tmp_path_factory) -> Iterator[str]:
    process, url, _ = start_shard_pipeline(tmp_path_factory.mktemp("cli-gateway"), local_stack.project)
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="module")
def demo_dataset(gateway) -> str:
    """`demo_forms@v1` as `./deploy.sh local` seeds it; a 503 (the emulator slow on a loaded
    machine: the API asks to retry) is retried, and the result is checked, not assumed."""
    deadline = time.monotonic() + 180
    while True:
        try:
            seed(gateway, TEST_API_KEY, DEMO_ENTRIES)
            break
        except requests.HTTPError as error:
            if error.response.status_code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(1)
    stored = requests.get(f"{gateway}/datasets/{NAME}/{VERSION}", headers={"X-API-Key": TEST_API_KEY}, timeout=60)
    assert (stored.json()["status"], stored.json()["entry_count"]) == ("published", DEMO_ENTRIES), stored.text[:300]
    return f"{NAME}@{VERSION}"


def run_cli(*args: str, url: str, key: str = TEST_API_KEY) -> subprocess.CompletedProcess:
    """The command line as its own process, configured by environment as CI configures it."""
    return subprocess.run(
        [sys.executable, "-m", "frontend.cli", *args],
        cwd=ROOT,
        env={**os.environ, "API_BASE_URL": url, "API_KEY": key},
        capture_output=True,
        text=True,
        timeout=1200,
    )


def gate(url: str, tmp_path: Path, *args: str, key: str = TEST_API_KEY):
    summary, junit = tmp_path / "gate.md", tmp_path / "gate.xml"
    evaluators = [word for name in EVALUATORS for word in ("--evaluator", name)]
    done = run_cli("gate", *args, *evaluators, "--summary", str(summary), "--junit", str(junit), url=url, key=key)
    return done, summary.read_text(), ET.parse(junit).getroot().find("testsuite")


def table_rows(markdown: str) -> dict[str, list[str]]:
    """The metrics table of the Markdown summary: metric -> its cells, in order."""
    rows = {}
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 8 and cells[0] != "metric":
            rows[cells[0].removesuffix(" (primary)")] = cells
    return rows


def failures(suite: ET.Element) -> set[str]:
    return {case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None}


@pytest.fixture(scope="module")
def off_against_on(gateway, demo_dataset, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gate-off")
    done, markdown, suite = gate(
        gateway, tmp_path, "--dataset", demo_dataset, "--baseline", ON, "--candidate", OFF, "--primary",
        "vote_count_accuracy",
    )  # fmt: skip
    experiment_id = re.search(r"experiment: `([^`]+)`", markdown).group(1)
    return done, markdown, suite, experiment_id


def test_gate_fails_when_the_candidate_reads_worse_and_names_the_worse_metrics(gateway, off_against_on):
    done, markdown, suite, experiment_id = off_against_on
    compared = requests.get(
        f"{gateway}/experiments/{experiment_id}/compare",
        params={"a": "on", "b": "off"},
        headers={"X-API-Key": TEST_API_KEY},
        timeout=60,
    ).json()
    worse = {label for label, m in compared["metrics"].items() if m["verdict"] == "worse"}

    assert done.returncode == 1, done.stderr + markdown
    assert worse and all(compared["metrics"][label]["p_adjusted"] < 0.05 for label in worse), compared
    assert "FAIL" in markdown.splitlines()[0]
    rows = table_rows(markdown)
    assert list(rows)[: len(worse)] == sorted(worse, key=lambda label: (label != "vote_count_accuracy", label))
    for label in worse:
        assert rows[label][7] == "**worse**"
        assert float(rows[label][6]) == pytest.approx(compared["metrics"][label]["p_adjusted"], rel=0.01, abs=1e-4)
    assert "vote_count_accuracy (primary)" in markdown
    assert failures(suite) == worse and suite.get("failures") == str(len(worse))
    assert {case.get("name") for case in suite.iter("testcase")} == set(compared["metrics"])


def test_gate_passes_the_same_reading_against_its_own_baseline_experiment(gateway, off_against_on, tmp_path):
    _, _, _, baseline_experiment = off_against_on

    done, markdown, suite = gate(
        gateway, tmp_path, "--baseline-experiment", baseline_experiment, "--candidate", ON,
        "--floor", "vote_count_accuracy=0.95", "--form-type", "generic",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr + markdown
    assert "PASS" in markdown.splitlines()[0] and "**worse**" not in markdown
    assert f"baseline: experiment `{baseline_experiment}`" in markdown
    [candidate_experiment] = re.findall(r"- experiment: `([^`]+)`", markdown)
    headers = {"X-API-Key": TEST_API_KEY}
    planned = requests.get(f"{gateway}/experiments/{candidate_experiment}", headers=headers, timeout=30).json()
    runs = requests.get(f"{gateway}/experiments/{candidate_experiment}/results", headers=headers, timeout=30).json()
    assert [variant.get("form_type") for variant in planned["variants"]] == ["generic"]  # --form-type, as given
    assert runs["items"] and {run["form_type"] for run in runs["items"]} == {"generic@1"}
    assert "| `vote_count_accuracy >= 0.95` |" in markdown and failures(suite) == set()
    assert "vote_count_accuracy >= 0.95" in {case.get("name") for case in suite.iter("testcase")}


def test_gate_cannot_decide_when_the_api_is_not_there_or_refuses_the_key(gateway, tmp_path):
    [unused_port] = free_ports(1)
    for url, key, said in (
        (f"http://127.0.0.1:{unused_port}", TEST_API_KEY, "could not reach"),
        (gateway, "wrong", "401"),
    ):
        done, markdown, suite = gate(
            url, tmp_path, "--dataset", "demo_forms@v1", "--baseline", ON, "--candidate", OFF, key=key
        )

        assert done.returncode == 2, done.stderr
        assert "COULD NOT DECIDE" in markdown and said in markdown
        [errored] = [case for case in suite.iter("testcase") if case.find("error") is not None]
        assert said in errored.find("error").get("message") and suite.get("errors") == "1"


def test_gate_prints_the_summary_when_no_file_is_named(tmp_path):
    [unused_port] = free_ports(1)

    done = run_cli(
        "gate",
        "--dataset",
        "demo_forms@v1",
        "--baseline",
        ON,
        "--candidate",
        OFF,
        url=f"http://127.0.0.1:{unused_port}",
    )

    assert done.returncode == 2 and done.stdout.startswith("## Prompt gate: COULD NOT DECIDE")
    assert "could not decide" in done.stderr


def test_start_from_a_toml_file_watch_compare_and_export(gateway, datasets_client, gemini, tmp_path, capsys):
    forms = [generate_form(900 + i) for i in range(4)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    spec = tmp_path / "prompts.toml"
    spec.write_text(
        f'name = "prompt a or b"\ndataset = "{dataset}@v1"\n'
        'variants = ["a:gemini-2.5-flash", "b:gemini-2.5-flash@prompt_b@production"]\n'
        'evaluators = ["vote_count_exact", "vote_count_accuracy"]\nconcurrency = 4\n'
        'primary_metric = "vote_count_exact"\n'
    )

    code = main(["--base-url", gateway, "--api-key", TEST_API_KEY, "start", str(spec), "--watch"])

    printed = capsys.readouterr()
    assert code == 0, printed
    assert "8/8 runs, 0 failed" in printed.err
    assert "vote_count_exact (primary)" in printed.out and "no_significant_difference" in printed.out
    experiment_id = re.search(r"experiment (\S+):", printed.out).group(1)

    watched = run_cli("watch", experiment_id, url=gateway)
    compared = run_cli(
        "compare", experiment_id, "--a", "a", "--b", "b", "--primary", "vote_count_accuracy", url=gateway
    )
    exported = run_cli("export", experiment_id, "--format", "csv", "-o", str(tmp_path / "runs.csv"), url=gateway)
    streamed = run_cli("export", experiment_id, "--format", "jsonl", url=gateway)

    assert watched.returncode == 0 and "8/8 runs, 0 failed" in watched.stderr and "vote_count_exact" in watched.stdout
    assert compared.returncode == 0 and "vote_count_accuracy (primary)" in compared.stdout
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "runs.csv").read_text())))
    assert len(rows) == 8 and {row["variant"] for row in rows} == {"a", "b"}
    runs = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert streamed.returncode == 0 and len(runs) == 8
    assert sorted((run["variant"], run["entry_id"]) for run in runs) == sorted(
        (row["variant"], row["entry_id"]) for row in rows
    )


def test_a_refused_start_says_why_and_exits_2(gateway, capsys):
    code = main(["--base-url", gateway, "--api-key", TEST_API_KEY, "start", "--dataset", "nope@v9", "--variant", ON])

    assert code == 2
    assert "error: the API answered 4" in capsys.readouterr().err
