"""The local stack: every emulator answers and works with the real clients; stopping leaves nothing."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage

from infra.local.emulators import (
    EmulatorError,
    LocalStack,
    StackPorts,
    free_ports,
    group_alive,
    port_in_use,
    reset_firestore,
    start_gcs,
    start_stack,
    start_test_agent,
    stop_process_group,
)
from infra.local.test_agent import TestAgent, span_kind

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_env_points_clients_at_the_stack(local_stack: LocalStack) -> None:
    env = local_stack.env()

    assert os.environ["FIRESTORE_EMULATOR_HOST"] == env["FIRESTORE_EMULATOR_HOST"] == local_stack.firestore_host
    assert os.environ["STORAGE_EMULATOR_HOST"] == local_stack.storage_url
    assert os.environ["PUBSUB_EMULATOR_HOST"] == local_stack.pubsub_host
    assert os.environ["DD_TRACE_AGENT_URL"] == local_stack.dd_agent_url
    assert os.environ["DD_APM_TRACING_ENABLED"] == "false"
    assert os.environ["GOOGLE_CLOUD_PROJECT"] == os.environ["GCP_PROJECT"] == local_stack.project
    assert os.environ["IMAGES_BUCKET"] == local_stack.bucket
    assert os.environ["API_KEYS"] == "test-key"
    # Free ports, so the tests never touch a `./deploy.sh local` stack on the defaults.
    assert local_stack.ports.firestore != StackPorts().firestore


def test_firestore_document_round_trip_and_reset(clean_firestore: LocalStack) -> None:
    client = firestore.Client(project=clean_firestore.project)
    document = client.collection("stack-checks").document(uuid.uuid4().hex)

    document.set({"votes": [1, 2], "nested": {"valid": 3}, "at": firestore.SERVER_TIMESTAMP})
    stored = document.get().to_dict()

    assert stored is not None
    assert stored["votes"] == [1, 2] and stored["nested"] == {"valid": 3} and stored["at"] is not None

    reset_firestore(clean_firestore.firestore_host, clean_firestore.project)

    assert not document.get().exists


def test_storage_blob_round_trip_is_byte_for_byte(local_stack: LocalStack) -> None:
    client = storage.Client(project=local_stack.project, credentials=AnonymousCredentials())
    content = os.urandom(300_000) + b"\x00\xff"
    blob = client.bucket(local_stack.bucket).blob(f"checks/{uuid.uuid4().hex}.bin")

    blob.upload_from_string(content, content_type="image/png", if_generation_match=0)
    downloaded = client.bucket(local_stack.bucket).blob(blob.name).download_as_bytes()

    assert downloaded == content
    assert client.bucket(local_stack.bucket).get_blob(blob.name).content_type == "image/png"


def test_pubsub_emulator_creates_a_topic_over_rest(local_stack: LocalStack) -> None:
    topic = f"projects/{local_stack.project}/topics/stack-check-{uuid.uuid4().hex[:8]}"
    base = f"http://{local_stack.pubsub_host}/v1"

    created = requests.put(f"{base}/{topic}", json={}, timeout=10)
    fetched = requests.get(f"{base}/{topic}", timeout=10)

    assert created.status_code == 200, created.text
    assert created.json()["name"] == topic
    assert fetched.status_code == 200


def test_llmobs_span_and_evaluation_reach_the_test_agent(clean_test_agent: TestAgent) -> None:
    from ddtrace.llmobs import LLMObs

    # The functions tested in this process may have enabled it already: leave it as it was found.
    was_enabled = LLMObs.enabled
    if not was_enabled:
        LLMObs.enable(ml_app="vote-extractor", agentless_enabled=False)
    try:
        with LLMObs.llm(model_name="stack-check-model", model_provider="local", name="stack_check") as span:
            LLMObs.annotate(span=span, input_data="form.png", output_data='{"vote_results": []}')
            exported = LLMObs.export_span(span)
        assert exported is not None
        LLMObs.submit_evaluation(
            label="stack_check_accuracy",
            metric_type="score",
            value=0.75,
            span={"span_id": exported["span_id"], "trace_id": exported["trace_id"]},
            tags={"check": "local_stack"},
        )
        LLMObs.flush()

        spans = clean_test_agent.wait_for(
            lambda: clean_test_agent.llmobs_spans(span_id=exported["span_id"]), timeout=10
        )
        evaluations = clean_test_agent.wait_for(
            lambda: clean_test_agent.evaluations_for(exported["span_id"], "stack_check_accuracy"), timeout=10
        )
    finally:
        if not was_enabled:
            LLMObs.disable()

    [received] = spans
    assert span_kind(received) == "llm"
    assert received["ml_app"] == "vote-extractor"
    assert "ml_app:vote-extractor" in received["tags"]
    assert received["trace_id"] == exported["trace_id"]
    assert received["meta"]["model_name"] == "stack-check-model"
    [evaluation] = evaluations
    assert evaluation["metric_type"] == "score"
    assert evaluation["value"] == 0.75
    assert evaluation["trace_id"] == exported["trace_id"]
    assert evaluation["tag_map"]["check"] == "local_stack"
    assert evaluation["ml_app"] == "vote-extractor"


def test_a_taken_port_is_a_clear_error(tmp_path: Path, local_stack: LocalStack) -> None:
    with pytest.raises(EmulatorError, match=f"port {local_stack.ports.gcs} .* already in use"):
        start_gcs(local_stack.ports.gcs, tmp_path)


def test_missing_gcloud_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(EmulatorError, match="Google Cloud CLI") as raised:
        start_stack(StackPorts.free(), tmp_path / "logs")

    assert "Firestore emulator" in str(raised.value) and "Pub/Sub emulator" in str(raised.value)


def test_stopping_a_stack_leaves_no_process(tmp_path: Path) -> None:
    ports = StackPorts.free()
    running = start_stack(ports, tmp_path / "logs", gcs_root=tmp_path / "gcs")
    groups = running.process_groups()
    assert all(group_alive(pgid) for pgid in groups.values())

    running.stop()

    assert not [name for name, pgid in groups.items() if group_alive(pgid)]
    listing = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True, check=True).stdout
    # Exited children of the launchers may linger as zombies until init reaps them: not running.
    running_groups = {int(pgid) for pgid, stat in (line.split() for line in listing.splitlines()) if stat[0] != "Z"}
    assert not set(groups.values()) & running_groups
    assert not [port for port in (ports.firestore, ports.pubsub, ports.gcs, ports.dd_agent) if port_in_use(port)]


def test_test_agent_ignores_dd_variables_meant_for_the_application(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DD_API_KEY makes the agent validate the key online and crash; DD_TRACE_AGENT_URL would make
    # it forward to itself.
    monkeypatch.setenv("DD_API_KEY", "not-a-real-key")
    monkeypatch.setenv("DD_TRACE_AGENT_URL", "http://127.0.0.1:9")
    port, otlp_http, otlp_grpc = free_ports(3)

    agent = start_test_agent(port, tmp_path, otlp_http_port=otlp_http, otlp_grpc_port=otlp_grpc)
    try:
        client = TestAgent(agent.url)
        client.clear()
        assert client.requests() == []
    finally:
        agent.stop()

    assert not group_alive(agent.pgid)


def test_stack_command_up_detach_then_down(tmp_path: Path) -> None:
    # A stand-in gateway: the real one is tested on its own; this checks the process handling.
    (tmp_path / "stand_in_gateway.py").write_text(
        "import argparse, http.server\n"
        "parser = argparse.ArgumentParser(); parser.add_argument('--port', type=int)\n"
        "class Health(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if self.path == '/healthz' else 404); self.end_headers()\n"
        "http.server.HTTPServer(('127.0.0.1', parser.parse_args().port), Health).serve_forever()\n"
    )
    ports = free_ports(8)
    env = os.environ | {
        "LOCAL_STATE_DIR": str(tmp_path / "state"),
        "LOCAL_GATEWAY_MODULE": "stand_in_gateway",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", ""), "."]),
        **dict(
            zip(
                ["FIRESTORE_PORT", "PUBSUB_PORT", "GCS_PORT", "DD_AGENT_PORT", "DD_OTLP_HTTP_PORT"]
                + ["DD_OTLP_GRPC_PORT", "CONSOLE_PORT", "GATEWAY_PORT"],
                map(str, ports),
                strict=True,
            )
        ),
    }

    def stack_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infra.local.stack", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    up = stack_command("up", "--detach")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((tmp_path / "state" / "stack.json").read_text())
        assert set(state["process_groups"]) == {
            "firestore",
            "pubsub",
            "gcs",
            "dd-agent",
            "gateway",
            "scheduler",
            "console",
        }
        assert requests.get(f"http://127.0.0.1:{ports[-1]}/healthz", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{ports[-2]}/_stcore/health", timeout=5).text == "ok"
        assert f"console: http://127.0.0.1:{ports[-2]}" in up.stdout
        assert all(group_alive(pgid) for pgid in state["process_groups"].values())

        second = stack_command("up", "--detach")
        assert second.returncode != 0
        assert "run ./deploy.sh local --stop first" in second.stderr
    finally:
        down = stack_command("down")

    assert down.returncode == 0, down.stdout + down.stderr
    assert not [name for name, pgid in state["process_groups"].items() if group_alive(pgid)]
    assert not (tmp_path / "state" / "stack.json").exists()
    assert stack_command("down").returncode == 0  # nothing running: still fine


def test_ctrl_c_on_a_piped_deploy_sh_local_stops_every_process(tmp_path: Path) -> None:
    # `./deploy.sh local | tee log` and Ctrl-C: the terminal sends SIGINT to the whole pipeline, the
    # reader dies first, and the stack's shutdown must still stop everything (it used to die on the
    # broken pipe when it said "stopping", leaving every emulator running).
    state_dir = tmp_path / "state"
    env = _stand_in_stack_environment(tmp_path, state_dir)
    pipeline = subprocess.Popen(
        ["bash", "-c", f"{ROOT / 'deploy.sh'} local | cat"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a job
    )
    groups: dict[str, int] = {}
    try:
        output = _read_until(pipeline, "serving; press Ctrl-C to stop", timeout=240)
        groups = json.loads((state_dir / "stack.json").read_text())["process_groups"]
        assert set(groups) == {"firestore", "pubsub", "gcs", "dd-agent", "gateway", "scheduler", "console"}, output
        assert all(group_alive(pgid) for pgid in groups.values())

        os.killpg(pipeline.pid, signal.SIGINT)
        pipeline.wait(timeout=60)

        left = {name: pgid for name, pgid in groups.items() if group_alive(pgid)}
        assert not left, f"still running after Ctrl-C: {left}"
        assert not (state_dir / "stack.json").exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pipeline.pid, signal.SIGKILL)
        pipeline.wait(timeout=10)
        for name, pgid in groups.items():  # never leave a stack behind, even when the test fails
            stop_process_group(pgid, name=name, timeout=5)


def _stand_in_stack_environment(tmp_path: Path, state_dir: Path) -> dict[str, str]:
    """The stack on free ports with a stand-in gateway (the real one is tested on its own)."""
    (tmp_path / "stand_in_gateway.py").write_text(
        "import argparse, http.server\n"
        "parser = argparse.ArgumentParser(); parser.add_argument('--port', type=int)\n"
        "class Health(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200 if self.path == '/healthz' else 404); self.end_headers()\n"
        "http.server.HTTPServer(('127.0.0.1', parser.parse_args().port), Health).serve_forever()\n"
    )
    names = ["FIRESTORE_PORT", "PUBSUB_PORT", "GCS_PORT", "DD_AGENT_PORT", "DD_OTLP_HTTP_PORT", "DD_OTLP_GRPC_PORT"]
    names += ["CONSOLE_PORT", "GATEWAY_PORT"]
    return os.environ | {
        "LOCAL_STATE_DIR": str(state_dir),
        "LOCAL_GATEWAY_MODULE": "stand_in_gateway",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", ""), "."]),
        **dict(zip(names, map(str, free_ports(len(names))), strict=True)),
    }


def _read_until(process: subprocess.Popen[str], marker: str, *, timeout: float) -> str:
    """The process's output up to the line holding `marker`; fails on exit or after `timeout`."""
    assert process.stdout is not None
    stdout = process.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # a thread, so the wait has a deadline even while nothing is printed
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} never came:\n{''.join(seen)}")
