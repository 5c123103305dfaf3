"""infra/functions.json is checked before anything deploys; staging copies only what a function runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.catalog import CATALOG_PATH, ROOT, load_catalog
from infra.staging import StagingError, stage_function


def _catalog_with(tmp_path: Path, change) -> Path:
    raw: dict[str, Any] = json.loads(CATALOG_PATH.read_text())
    change(raw)
    path = tmp_path / "functions.json"
    path.write_text(json.dumps(raw))
    return path


def _function(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in raw["functions"] if f["name"] == name)


def test_the_catalog_names_the_six_functions_with_their_sources():
    catalog = load_catalog()

    assert {(s.name, s.source, s.entry_point, s.trigger) for s in catalog.functions} == {
        ("extract", "functions/extract", "extract", "http"),
        ("feedback", "functions/feedback", "feedback", "http"),
        ("datasets", "functions/datasets", "datasets", "http"),
        ("experiments", "functions/experiments", "experiments", "http"),
        ("experiments-scheduled", "functions/experiments_scheduled", "experiments_scheduled", "http"),
        ("experiments-worker", "functions/experiments_worker", "experiments_worker", "topic"),
    }
    assert all(spec.min_instances == 0 for spec in catalog.functions), "idle must cost nothing"
    assert catalog.secrets == {
        "API_KEYS": "vote-extractor-api-keys",
        "DD_API_KEY": "vote-extractor-dd-api-key",
        "GEMINI_API_KEY": "vote-extractor-gemini-api-key",
    }


def test_the_local_gateway_serves_the_http_functions_under_their_deployed_names():
    from infra.local.gateway import FUNCTIONS

    deployed = {spec.name: (Path(spec.source).name, spec.entry_point) for spec in load_catalog().functions}

    for name, (folder, target) in FUNCTIONS.items():
        assert deployed[name] == (folder, target), f"gateway /{name} differs from infra/functions.json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["functions"].append(dict(raw["functions"][0])), "function names repeat"),
        (lambda raw: _function(raw, "feedback").update(service_account_id="Feedback_SA"), "not a valid IAM account id"),
        (lambda raw: _function(raw, "feedback").update(cpu="0.5"), "concurrency above 1 needs at least 1 CPU"),
        (lambda raw: _function(raw, "experiments-worker").update(timeout_s=600), "times out at 540 s at most"),
        (lambda raw: _function(raw, "extract").update(secrets=["OPENAI_KEY"]), "unknown secrets ['OPENAI_KEY']"),
        (lambda raw: _function(raw, "experiments").update(publishes_to=["nowhere"]), "unknown topics ['nowhere']"),
        (lambda raw: _function(raw, "extract")["env"].update(API_KEYS="k"), "both plain env vars and secrets"),
        (lambda raw: _function(raw, "extract")["env"].update(X="{zone}"), "unknown placeholder {zone}"),
        (lambda raw: raw["scheduler"].update(function="cron"), "the scheduler calls 'cron'"),
    ],
)
def test_a_catalog_mistake_is_refused_before_any_deploy(tmp_path, change, message):
    path = _catalog_with(tmp_path, change)

    with pytest.raises(ValueError, match="infra/functions.json") as refused:
        load_catalog(path)

    assert message in str(refused.value)


def test_staging_copies_the_function_folder_and_shared_and_nothing_else(tmp_path):
    spec = load_catalog().function("extract")

    staged = stage_function(spec, tmp_path)

    assert sorted(p.name for p in staged.iterdir()) == ["main.py", "requirements.txt", "shared"]
    assert (staged / "main.py").read_text() == (ROOT / "functions" / "extract" / "main.py").read_text()
    shipped = {p.relative_to(staged / "shared").as_posix() for p in (staged / "shared").rglob("*.py")}
    expected = {p.relative_to(ROOT / "shared").as_posix() for p in (ROOT / "shared").rglob("*.py")}
    assert shipped == expected
    assert not [p for p in staged.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]
    assert not [p for p in staged.rglob("*") if p.name in ("tests", "bench", "infra", ".venv")]


def test_staging_again_replaces_what_was_staged_before(tmp_path):
    spec = load_catalog().function("feedback")
    stale = tmp_path / "feedback" / "leftover.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")

    stage_function(spec, tmp_path)

    assert not stale.exists()


def test_staging_a_function_without_its_source_says_which_file_is_missing(tmp_path, monkeypatch):
    spec = load_catalog().function("feedback")
    monkeypatch.setattr(type(spec), "source_dir", property(lambda self: tmp_path / "nowhere"))

    with pytest.raises(StagingError, match="main.py does not exist"):
        stage_function(spec, tmp_path / "build")


def test_readme_sizing_table_matches_the_catalog():
    readme = (ROOT / "README.md").read_text()

    for spec in load_catalog().functions:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{spec.name}` |")), None)
        assert row is not None, f"README's sizing table has no row for {spec.name}"
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert cells[2:7] == [
            spec.memory,
            spec.cpu,
            f"{spec.timeout_s} s",
            str(spec.concurrency),
            str(spec.max_instances),
        ]
    assert "./deploy.sh deploy --project P --region europe-west1 --dry-run" in readme
    assert "## What it costs to run idle" in readme
