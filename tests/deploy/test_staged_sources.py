"""Each staged function imports and serves in a fresh venv holding only its own requirements.

This is what Cloud Functions builds: the staged folder alone on `sys.path`, `pip install -r
requirements.txt`, then functions-framework loading `main.py`. A missing dependency, an import
of something only the dev environment has, or a `shared/` module left out fails here, not in
production. Slow the first time (one venv per function, minutes each); cached afterwards.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.catalog import FunctionSpec, load_catalog
from infra.staging import stage_function
from tests.deploy.staged_venvs import python_of, venv_for

pytestmark = pytest.mark.slow

CATALOG = load_catalog()
COLD_IMPORT_LIMIT_S = 1.5
# Production-like, but nothing to reach: no credentials lookup, no Datadog, no emulator.
_OFFLINE_ENV = {
    "ENVIRONMENT": "production",
    "API_KEYS": json.dumps(
        {"staged": {"sha256": hashlib.sha256(b"staged-source-test-key").hexdigest(), "scopes": ["admin"]}}
    ),
    "LLMOBS_ENABLED": "false",
    "GCP_PROJECT": "staged-test",
    "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
    "PUBSUB_EMULATOR_HOST": "127.0.0.1:9",
    "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
    "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
    "RAGAS_DO_NOT_TRACK": "true",
    "PATH": "/usr/bin:/bin",
}

# Run by the venv's python with -I (no cwd, no PYTHONPATH, no user site): only the staged
# folder is importable, as on Cloud Functions.
_SERVE_PROBE = """
import base64, json, sys
sys.path.insert(0, sys.argv[1])
import functions_framework
app = functions_framework.create_app(target=sys.argv[2], source=sys.argv[1] + "/main.py", signature_type=sys.argv[3])
client = app.test_client()
if sys.argv[3] == "http":
    response = client.post("/", json={})
else:
    # A Pub/Sub CloudEvent whose message is not a shard: acknowledged and dropped, nothing reached.
    data = {"message": {"data": base64.b64encode(b"not a shard").decode(), "messageId": "1"}}
    response = client.post("/", json=data, headers={
        "ce-id": "1", "ce-specversion": "1.0", "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished"})
print(json.dumps({"status": response.status_code, "body": response.get_json(silent=True)}))
"""

_IMPORT_PROBE = """
import importlib.util, json, sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1] + "/main.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
print(json.dumps({"import_s": elapsed, "ragas_importable": importlib.util.find_spec("ragas") is not None}))
"""


def _present(spec: FunctionSpec) -> Any:
    return pytest.param(
        spec,
        id=spec.name,
        marks=pytest.mark.skipif(not spec.source_dir.is_dir(), reason=f"{spec.source}: source not present yet"),
    )


@pytest.fixture(scope="module")
def build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("staged")


def _staged_venv(spec: FunctionSpec, build_root: Path) -> tuple[Path, Path, dict[str, object]]:
    staged = stage_function(spec, build_root)
    venv, built = venv_for(staged / "requirements.txt")
    print(f"\n{spec.name}: venv {'reused' if built['cached'] else 'built'} ({built['seconds']} s to build)")
    return staged, venv, built


def _probe(venv: Path, script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = subprocess.run(
        [str(python_of(venv)), "-I", "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_OFFLINE_ENV | (env or {}),
    )
    assert done.returncode == 0, f"probe failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("spec", [_present(spec) for spec in CATALOG.functions])
def test_staged_function_serves_with_only_its_own_requirements(spec: FunctionSpec, build_root: Path):
    staged, venv, _ = _staged_venv(spec, build_root)
    signature = "http" if spec.trigger == "http" else "cloudevent"

    answer = _probe(venv, _SERVE_PROBE, str(staged), spec.entry_point, signature)

    # It served from a folder without the synthetic form generator (demo and test tooling).
    assert not (staged / "shared" / "synthetic").exists()
    if spec.trigger == "http":
        # Without a key (or, for the scheduler's target, a token) every HTTP function says 401 in our
        # JSON error shape: proof it imported, routed and reached its authentication.
        assert answer["status"] == 401, answer
        assert answer["body"]["error"]["code"] == "unauthenticated", answer
    else:
        assert answer["status"] in (200, 204), answer


def test_staged_extract_carries_no_ragas_and_imports_in_under_a_second_and_a_half(build_root: Path):
    spec = CATALOG.function("extract")
    staged, venv, _ = _staged_venv(spec, build_root)
    requirements = (staged / "requirements.txt").read_text().lower()

    runs = [_probe(venv, _IMPORT_PROBE, str(staged)) for _ in range(3)]
    best = min(run["import_s"] for run in runs)
    print(f"\nextract cold import in its staged venv: best {best:.3f} s of {[round(r['import_s'], 3) for r in runs]}")

    assert "ragas" not in requirements
    assert not any(run["ragas_importable"] for run in runs), "ragas is importable in the extract function's venv"
    assert best < COLD_IMPORT_LIMIT_S, f"extract's cold import took {best:.2f} s (limit {COLD_IMPORT_LIMIT_S} s)"


def test_staged_experiments_carries_ragas(build_root: Path):
    spec = CATALOG.function("experiments")
    staged, venv, _ = _staged_venv(spec, build_root)

    probe = "import importlib.util, json; print(json.dumps({'ragas': importlib.util.find_spec('ragas') is not None}))"
    answer = _probe(venv, probe)

    assert answer["ragas"], "the experiments function must carry Ragas"
