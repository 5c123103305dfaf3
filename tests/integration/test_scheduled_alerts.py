"""A schedule made worse raises exactly one regression alert, through the whole local stack.

The trigger reaches the gateway as Cloud Scheduler would (locally with the API key), the
experiment fans out through the Pub/Sub emulator to experiments-worker, the OCR is real
Tesseract, and the alert lands in Firestore, as one structured log line, and as one Datadog
event. Datadog's events API cannot be reached from here: a local HTTP server records the events
the same code posts to Datadog in production.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from infra.local.scheduler import tick as scheduler_tick
from shared.experiments.shards import ShardMessage
from shared.synthetic.forms import Degradation, generate_form
from tests.integration.builders import HEADERS, published_dataset
from tests.integration.processes import redeliver, start_shard_pipeline

DD_TEST_KEY = "dd-events-test-key"


class DatadogEvents:
    """Records what is POSTed to it, answering 202 as Datadog's events API does."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, dict]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append((dict(self.headers), body))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "ok"}')

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/events"


@pytest.fixture
def alerting_stack(local_stack, fake_gemini, tmp_path):
    events = DatadogEvents()
    process, url, topic = start_shard_pipeline(
        tmp_path, local_stack.project, DATADOG_EVENTS_URL=events.url, DD_API_KEY=DD_TEST_KEY
    )
    try:
        yield url, topic, process, events
    finally:
        process.stop()
        events.server.shutdown()


def wait_finished(url: str, experiment_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answered = requests.get(f"{url}/experiments/{experiment_id}", headers=HEADERS, timeout=30)
        if answered.status_code == 200 and answered.json()["status"] in ("completed", "failed"):
            return answered.json()
        assert time.monotonic() < deadline, answered.text
        time.sleep(0.5)


def alert_lines(log_path) -> list[dict]:
    lines = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"vote_extractor_alert"' in line:
            lines.append(json.loads(line))
    return lines


def test_a_schedule_made_worse_raises_exactly_one_regression_alert(clean_firestore, datasets_client, alerting_stack):
    url, topic, gateway, events = alerting_stack
    forms = [
        generate_form(300 + i, degradation=Degradation(rotation_deg=(1.5 + 0.5 * (i % 3)) * (-1) ** i, blur_sigma=1.0))
        for i in range(16)
    ]
    dataset, _ = published_dataset(datasets_client, forms)
    evaluators = ["vote_count_accuracy", "vote_count_exact", "candidate_f1"]
    baseline = requests.post(
        f"{url}/experiments",
        json={
            "name": "preprocessing on",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [{"name": "ocr", "model": "tesseract", "params": {"deskew": True, "remove_lines": True}}],
            "evaluators": evaluators,
            "concurrency": 2,
        },
        headers=HEADERS,
        timeout=60,
    )
    assert baseline.status_code == 202, baseline.text
    baseline_id = baseline.json()["experiment_id"]
    assert wait_finished(url, baseline_id)["status"] == "completed"

    schedule = {
        "schedule_id": "nightly-ocr",
        "interval_minutes": 60 * 24,
        "dataset": {"name": dataset, "version": "latest"},
        # The change under watch: someone turned preprocessing off.
        "variants": [{"name": "ocr", "model": "tesseract", "params": {"deskew": False, "remove_lines": False}}],
        "evaluators": evaluators,
        "concurrency": 2,
        "baseline": {"policy": "pinned", "experiment_id": baseline_id},
    }
    created = requests.post(f"{url}/experiments/schedules", json=schedule, headers=HEADERS, timeout=30)
    assert created.status_code == 201, created.text
    now = dt.datetime.now(dt.UTC)
    slot = {"X-CloudScheduler-ScheduleTime": now.isoformat()}

    # The trigger as the local Cloud Scheduler stand-in sends it (./deploy.sh local runs it).
    [started] = scheduler_tick(url, HEADERS["X-API-Key"], now)["started"]
    status = wait_finished(url, started["experiment_id"])
    assert status["status"] == "completed", status
    assert status["summary"]["ocr"]["vote_count_accuracy"]["mean"] < 0.9

    # The same trigger again and a redelivered shard: neither may alert a second time.
    again = requests.post(f"{url}/experiments-scheduled", headers=HEADERS | slot, timeout=60)
    assert again.json()["started"] == [] and len(again.json()["already_started"]) == 1
    redeliver(topic, ShardMessage(started["experiment_id"], 0))
    time.sleep(3)

    alerts = requests.get(
        f"{url}/experiments/alerts", params={"schedule_id": "nightly-ocr"}, headers=HEADERS, timeout=30
    ).json()["items"]
    assert [alert["kind"] for alert in alerts] == ["regression"], alerts
    [alert] = alerts
    assert alert["experiment_id"] == started["experiment_id"] and alert["severity"] == "critical"
    assert "vote_count_accuracy" in alert["details"]["worse"]["ocr"]
    assert alert["details"]["baseline_experiment_id"] == baseline_id
    assert alert["details"]["metrics"]["ocr"]["vote_count_accuracy"]["p_value"] < 0.05
    assert alert["datadog_event_sent"] is True

    [line] = alert_lines(gateway.log_path)
    assert line["alert_kind"] == "regression" and line["schedule_id"] == "nightly-ocr"
    assert line["severity"] == "ERROR" and line["experiment_id"] == started["experiment_id"]

    [(headers, event)] = events.received
    assert headers.get("DD-API-KEY") == DD_TEST_KEY
    assert "alert_kind:regression" in event["tags"] and "schedule:nightly-ocr" in event["tags"]
    assert event["alert_type"] == "error" and event["aggregation_key"] == alert["alert_id"]
