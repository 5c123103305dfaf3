"""A client generated from openapi.yaml, as a team would make one, works (issue 25, item 6).

The client is generated at test time with openapi-python-client (the common Python generator)
and the project's settings for it (frontend/openapi-python-client), so a document it cannot read
fails here: every operation must have its call and every component schema its model, with no
warning. Then the generated calls drive extract -> feedback -> dataset from-trace -> experiment
against a real gateway process, each answer parsed into the generated models.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from openapi_python_client.strings import pascal_case, snake_case

from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.processes import start_shard_pipeline
from tests.openapi_contract import assert_matches_contract

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "frontend" / "openapi-python-client"  # the generator's config and its one fixed template
SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
OPERATIONS = {
    operation["operationId"]: (path, method)
    for path, path_item in SPEC["paths"].items()
    for method, operation in path_item.items()
    if isinstance(operation, dict) and "operationId" in operation
}
PACKAGE = "vote_extractor_generated_client"
PRIMITIVE_TYPES = {"string", "integer", "number", "boolean"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str]]:
    """The generated package, imported; and what the generator printed."""
    out = tmp_path_factory.mktemp("generated") / PACKAGE
    bin_dir = Path(sys.executable).parent  # the generator runs ruff on what it wrote
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(ROOT / "openapi.yaml")]
    command += ["--config", str(SETTINGS / "config.yaml"), "--custom-template-path", str(SETTINGS / "templates")]
    command += ["--meta", "none", "--output-path", str(out), "--fail-on-warning"]
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(out.parent)}
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    printed = ran.stdout + ran.stderr
    assert ran.returncode == 0, printed
    # Code that would not import (an undefined name: the generator's bug #1451) fails here, by name.
    linted = subprocess.run(
        [str(bin_dir / "ruff"), "check", "--isolated", "--select", "F,E9", "--quiet", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    sys.path.insert(0, str(out.parent))
    try:
        yield importlib.import_module(PACKAGE), printed
    finally:
        sys.path.remove(str(out.parent))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_every_operation_and_schema_is_generated_without_a_warning(generated):
    package, printed = generated
    operation_ids = list(OPERATIONS)
    schemas = SPEC["components"]["schemas"]
    # A component that is only a constrained string (StorableKey) is inlined as str, not a class.
    modelled = [name for name, schema in schemas.items() if schema.get("type") not in PRIMITIVE_TYPES]

    missing_calls = []
    for operation_id in operation_ids:
        try:
            module = importlib.import_module(f"{PACKAGE}.api.default.{snake_case(operation_id)}")
        except ModuleNotFoundError:
            missing_calls.append(operation_id)
            continue
        assert callable(module.sync_detailed) and callable(module.asyncio_detailed)
    models = importlib.import_module(f"{PACKAGE}.models")
    missing_models = [name for name in modelled if not hasattr(models, pascal_case(name))]

    assert "warning" not in printed.lower(), printed
    assert missing_calls == [], missing_calls
    assert missing_models == [], missing_models
    assert len(operation_ids) > 60 and {"Correction", "FeedbackRequest", "Schedule", "Experiment"} <= set(modelled)


def call(package: ModuleType, operation_id: str, client: Any, *args: Any, status: int = 200, **kwargs: Any) -> Any:
    """One generated call; asserts the status, that a JSON answer is what openapi.yaml says, and
    returns the answer parsed into its generated model."""
    module = importlib.import_module(f"{package.__name__}.api.default.{snake_case(operation_id)}")
    answered = module.sync_detailed(*args, client=client, **kwargs)
    assert answered.status_code == status, (operation_id, answered.status_code, answered.content[:2000])
    if answered.headers.get("content-type", "").startswith("application/json"):
        assert_matches_contract(*OPERATIONS[operation_id], status, json.loads(answered.content))
    return answered.parsed


@pytest.fixture(scope="module")
def gateway(local_stack, fake_gemini, tmp_path_factory) -> Iterator[str]:
    """A gateway process over the session's emulators, its experiments run by its own worker."""
    process, url, _topic = start_shard_pipeline(
        tmp_path_factory.mktemp("generated-client-gateway"), local_stack.project, DEFAULT_MODEL="tesseract"
    )
    try:
        yield url
    finally:
        process.stop()


def test_the_flow_through_the_generated_client(generated, gateway):
    package, _ = generated
    models = importlib.import_module(f"{package.__name__}.models")
    types = importlib.import_module(f"{package.__name__}.types")
    client = package.Client(base_url=gateway, headers={"X-API-Key": TEST_API_KEY}, timeout=120.0)
    form = generate_form(2501)
    truth = form.truth.model_dump()

    # extract (multipart, the offline model)
    image = types.File(payload=form.image, file_name="form.png", mime_type=form.content_type)
    extraction = call(
        package,
        "createExtraction",
        client,
        body=models.CreateExtractionFilesBody(image=image, model="tesseract", tags=json.dumps({"source": "generated"})),
    )
    assert isinstance(extraction, models.Extraction) and extraction.status == models.ExtractionStatus.SUCCEEDED
    assert extraction.span_id and extraction.trace_id and extraction.result.vote_results
    record = call(package, "getExtraction", client, extraction.extraction_id)
    assert isinstance(record, models.ExtractionRecord) and record.feedback_summary.thumbs_down == 0
    stored_image = call(package, "getExtractionImage", client, extraction.extraction_id)
    assert stored_image.payload.read() == form.image

    # feedback: thumbs down, stars and a correction of the first row
    row = extraction.result.vote_results[0]
    corrected_count = (row.vote_count or 0) + 7
    fixed_row = models.CorrectionVoteResultsType0Item(candidate_name=row.candidate_name, vote_count=corrected_count)
    correction = models.Correction(vote_results=[fixed_row])
    feedback = models.FeedbackRequest(
        span_id=extraction.span_id,
        trace_id=extraction.trace_id,
        feedback_type=models.FeedbackRequestFeedbackType.THUMBS_DOWN,
        quality_score=2,
        comment="The first row is off by seven.",
        corrections=correction,
    )
    recorded = call(package, "createFeedback", client, body=feedback, status=201)
    assert isinstance(recorded, models.FeedbackRecorded) and recorded.extraction_id == extraction.extraction_id
    assert {"user_feedback", "user_correction"} <= {e.label for e in recorded.evaluations}
    listed = call(package, "listFeedback", client, extraction_id=extraction.extraction_id)
    assert [f.feedback_id for f in listed.items] == [recorded.feedback_id]

    # a dataset: the extraction from its trace (corrected output), one more entry imported, published
    name = f"generated_{uuid.uuid4().hex[:8]}"
    call(package, "createDataset", client, body=models.CreateDatasetBody(name=name, version="v1"), status=201)
    traced = call(
        package,
        "addFromTrace",
        client,
        name,
        "v1",
        body=models.AddFromTraceBody(span_id=extraction.span_id, trace_id=extraction.trace_id),
        status=201,
    )
    line = {"id": "imported-1", "input": {"image_uri": extraction.image_uri}, "expected_output": truth}
    imported = call(
        package,
        "importEntries",
        client,
        name,
        "v1",
        body=types.File(payload=json.dumps(line).encode(), mime_type="application/octet-stream"),
        format_=models.ImportEntriesFormat.JSONL,
    )
    assert imported.imported == 1 and imported.rejected == [], imported.to_dict()
    entry = call(package, "getEntry", client, name, "v1", traced.entry_id)
    assert isinstance(entry, models.Entry) and entry.source.kind == models.EntrySourceKind.TRACE
    assert entry.expected_output.vote_results[0].vote_count == corrected_count
    published = call(package, "publishVersion", client, name, "v1")
    assert published.status == models.DatasetVersionStatus.PUBLISHED and published.entry_count == 2

    # an experiment on it, watched to completion
    started = call(
        package,
        "startExperiment",
        client,
        body=models.StartExperimentBody.from_dict(
            {
                "name": "generated client",
                "dataset": {"name": name, "version": "v1"},
                "variants": [{"name": "ocr", "model": "tesseract"}],
                "evaluators": ["vote_count_accuracy", "vote_count_exact"],
            }
        ),
        status=202,
    )
    assert isinstance(started, models.ExperimentStarted)
    deadline = time.monotonic() + 240
    while True:
        experiment = call(package, "getExperiment", client, started.experiment_id)
        assert isinstance(experiment, models.Experiment)
        if experiment.status in (models.ExperimentStatus.COMPLETED, models.ExperimentStatus.FAILED):
            break
        assert time.monotonic() < deadline, experiment.to_dict()
        time.sleep(0.5)
    assert experiment.status == models.ExperimentStatus.COMPLETED, experiment.to_dict()
    assert (experiment.progress.done, experiment.progress.failed) == (2, 0)
    assert experiment.variants[0].name == "ocr" and experiment.variants[0].prompt_version
    accuracy = experiment.summary["ocr"]["vote_count_accuracy"]
    assert isinstance(accuracy, models.ExperimentMetric) and accuracy.n == 2 and 0 <= accuracy.mean <= 1
    results = call(package, "getExperimentResults", client, started.experiment_id)
    assert sorted(run.entry_id for run in results.items) == sorted([traced.entry_id, "imported-1"])
    assert all(isinstance(run, models.Run) and run.evaluations for run in results.items)

    # a schedule on the dataset (disabled: this test starts nothing on a clock), read back and deleted
    schedule_id = f"gen-{uuid.uuid4().hex[:8]}"
    schedule_body = {
        "schedule_id": schedule_id,
        "enabled": False,
        "interval_minutes": 1440,
        "dataset": {"name": name},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "evaluators": ["vote_count_exact", {"vote_count_accuracy": {}}],
    }
    created = call(
        package, "createSchedule", client, body=models.CreateScheduleBody.from_dict(schedule_body), status=201
    )
    schedule = call(package, "getSchedule", client, schedule_id)
    assert isinstance(created, models.Schedule) and isinstance(schedule, models.Schedule)
    assert schedule.dataset.version == "latest" and schedule.variants[0].model == "tesseract"
    assert schedule.enabled is False and schedule.baseline.policy == models.ScheduleBaselinePolicy.PREVIOUS
    call(package, "deleteSchedule", client, schedule_id, status=204)
