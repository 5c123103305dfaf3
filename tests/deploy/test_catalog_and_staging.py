"""infra/functions.json is checked before anything deploys; staging copies only what a function runs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.catalog import CATALOG_PATH, ROOT, load_catalog
from infra.staging import StagingError, stage_console, stage_function


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
        "CONSOLE_API_KEY": "vote-extractor-console-api-key",
    }


def test_the_catalog_names_the_console_a_private_cloud_run_service_with_its_own_key():
    console = load_catalog().console

    assert (console.service, console.source, console.service_account_id) == (
        "vote-extractor-console",
        "frontend/streamlit",
        "vx-console",
    )
    assert console.allow_unauthenticated is False and console.session_affinity is True
    assert console.min_instances == 0, "idle must cost nothing"
    assert console.timeout_s == 3600, "a browser tab holds its websocket for the whole request timeout"
    assert console.secrets == {"API_KEY": "CONSOLE_API_KEY"}
    assert console.env["API_BASE_URL"] == "https://{region}-{project}.cloudfunctions.net"


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
        (lambda raw: _function(raw, "experiments").update(after_response="run the experiment"), "gets CPU only while"),
        (lambda raw: _function(raw, "extract").pop("after_response"), "after_response must be 'nothing'"),
        (lambda raw: _function(raw, "extract").update(secrets=["OPENAI_KEY"]), "unknown secrets ['OPENAI_KEY']"),
        (lambda raw: _function(raw, "experiments").update(publishes_to=["nowhere"]), "unknown topics ['nowhere']"),
        (lambda raw: _function(raw, "extract")["env"].update(API_KEYS="k"), "both plain env vars and secrets"),
        (lambda raw: _function(raw, "extract")["env"].update(X="{zone}"), "unknown placeholder {zone}"),
        (lambda raw: raw["scheduler"].update(function="cron"), "the scheduler calls 'cron'"),
        (lambda raw: raw["console"]["invokers"].update(allow_unauthenticated=True), "must stay private"),
        (lambda raw: raw["console"].update(session_affinity=False), "needs session affinity"),
        (lambda raw: raw["console"].update(timeout_s=7200), "times out at 3600 s at most"),
        (lambda raw: raw["console"].update(service_account_id="vx-extract"), "service account ids repeat"),
        (lambda raw: raw["console"].update(secrets={"API_KEY": "ADMIN_KEY"}), "unknown secrets ['ADMIN_KEY']"),
        (lambda raw: raw["console"]["env"].update(URL="{function_url}"), "unknown placeholder {function_url}"),
        (lambda raw: raw["console"].update(shared_paths=["functions/extract"]), "not a file or folder inside"),
        (lambda raw: raw["console"].update(service="extract"), "a function has the same name"),
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
    assert shipped == {name for name in expected if not name.startswith("synthetic/")}
    assert not [p for p in staged.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]
    assert not [p for p in staged.rglob("*") if p.name in ("tests", "bench", "infra", ".venv")]


def _imported_modules(source: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


@pytest.mark.parametrize("spec", load_catalog().functions, ids=lambda spec: spec.name)
def test_no_function_ships_or_imports_the_synthetic_form_generator(tmp_path, spec):
    staged = stage_function(spec, tmp_path)

    importers = [
        path.relative_to(staged).as_posix()
        for path in staged.rglob("*.py")
        if any(m == "shared.synthetic" or m.startswith("shared.synthetic.") for m in _imported_modules(path))
    ]
    assert not (staged / "shared" / "synthetic").exists()
    assert importers == [], f"{spec.name} would fail on Cloud Functions: these import shared.synthetic"


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


def test_staging_the_console_copies_its_folder_and_only_the_shared_files_it_lists(tmp_path):
    console = load_catalog().console

    staged = stage_console(console, tmp_path)

    assert staged == tmp_path / "console"
    for name in ("app.py", "api_client.py", "requirements.txt", "Dockerfile", ".streamlit/config.toml"):
        assert (staged / name).is_file(), f"{name} is not staged"
    assert sorted(p.name for p in (staged / "pages").iterdir()) == sorted(
        p.name for p in (ROOT / "frontend" / "streamlit" / "pages").glob("*.py")
    )
    shipped = {p.relative_to(staged / "shared").as_posix() for p in (staged / "shared").rglob("*.py")}
    synthetic = {f"synthetic/{p.name}" for p in (ROOT / "shared" / "synthetic").glob("*.py")}
    assert shipped == {"__init__.py", "models.py"} | synthetic
    assert not (staged / "shared" / "storage").exists() and not (staged / "functions").exists()
    assert not [p for p in staged.rglob("*") if p.name in ("main.py", "secrets.toml", "__pycache__")]
    assert not [p for p in staged.rglob("*") if p.suffix == ".pyc"]


def test_the_consoles_shared_files_import_with_nothing_else_of_ours(tmp_path):
    staged = stage_console(load_catalog().console, tmp_path)
    code = f"import sys; sys.path.insert(0, {str(staged)!r}); import shared.models, shared.synthetic"

    imported = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120)

    assert imported.returncode == 0, f"the console would fail to start: {imported.stderr[-2000:]}"


def test_staging_the_console_leaves_its_local_streamlit_secrets_behind(tmp_path, monkeypatch):
    console = load_catalog().console
    source = tmp_path / "streamlit"
    source.mkdir()
    for name in ("app.py", "requirements.txt", "Dockerfile"):
        (source / name).write_text("")
    (source / ".streamlit").mkdir()
    (source / ".streamlit" / "config.toml").write_text("[server]\n")
    (source / ".streamlit" / "secrets.toml").write_text('API_KEY = "local-only"\n')
    (source / ".env").write_text("API_KEY=local-only\n")
    monkeypatch.setattr(type(console), "source_dir", property(lambda self: source))

    staged = stage_console(console, tmp_path / "build")

    assert (staged / ".streamlit" / "config.toml").is_file()
    assert not (staged / ".streamlit" / "secrets.toml").exists() and not (staged / ".env").exists()


def test_staging_the_console_without_its_dockerfile_says_so(tmp_path, monkeypatch):
    console = load_catalog().console
    source = tmp_path / "streamlit"
    source.mkdir()
    (source / "app.py").write_text("")
    (source / "requirements.txt").write_text("")
    monkeypatch.setattr(type(console), "source_dir", property(lambda self: source))

    with pytest.raises(StagingError, match="Dockerfile does not exist"):
        stage_console(console, tmp_path / "build")


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower())
    return names


def test_the_console_and_the_functions_each_install_only_their_own_requirements():
    catalog = load_catalog()
    console = _requirement_names(catalog.console.source_dir / "requirements.txt")
    functions = {spec.name: _requirement_names(spec.source_dir / "requirements.txt") for spec in catalog.functions}

    assert "streamlit" in console
    for name, requirements in functions.items():
        assert "streamlit" not in requirements, f"{name} installs the console's streamlit"
    server_side = {"google-cloud-firestore", "google-cloud-storage", "google-cloud-pubsub", "ragas"}
    assert not console & server_side, "the console is a client of the API: no storage or evaluation packages"
    assert not console & {"functions-framework", "ddtrace", "google-genai"}


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
    console = load_catalog().console
    row = next((line for line in readme.splitlines() if line.startswith(f"| `{console.service}` |")), None)
    assert row is not None, "README's sizing table has no row for the console"
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[2:7] == [
        console.memory,
        console.cpu,
        f"{console.timeout_s} s",
        str(console.concurrency),
        str(console.max_instances),
    ]
    assert "./deploy.sh deploy --project P --region europe-west1 --dry-run" in readme
    assert "## What it costs to run idle" in readme
