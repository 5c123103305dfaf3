"""Kill the gateway in the middle of an experiment, start it again, resume: every run exists once."""

from __future__ import annotations

import os
import signal
import time

import requests

from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, published_dataset, truth_responder
from tests.integration.processes import start_gateway


def status_of(url: str, experiment_id: str) -> dict:
    return requests.get(f"{url}/experiments/{experiment_id}", headers=HEADERS, timeout=30).json()


def run_ids(experiment_id: str) -> list[str]:
    runs = firestore_client().collection("experiments").document(experiment_id).collection("runs")
    return [snapshot.id for snapshot in runs.select([]).stream()]


def test_a_crashed_experiment_resumes_with_every_run_exactly_once(datasets_client, gemini, tmp_path):
    forms = [generate_form(800 + i) for i in range(15)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    gemini.latency_s = 0.25  # long enough to kill the gateway half way
    first, url = start_gateway(tmp_path / "first")
    body = {
        "name": "crash and resume",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "repetitions": 2,
        "concurrency": 2,
        "evaluators": ["vote_count_exact"],
    }
    try:
        experiment_id = requests.post(f"{url}/experiments", json=body, headers=HEADERS, timeout=30).json()[
            "experiment_id"
        ]
        deadline = time.monotonic() + 60
        while len(run_ids(experiment_id)) < 6:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.killpg(first.pgid, signal.SIGKILL)  # a crash, not a clean stop
        first.stop()
        written_before = set(run_ids(experiment_id))
        assert 0 < len(written_before) < 30

        second, url = start_gateway(tmp_path / "second")
        try:
            resumed = requests.post(f"{url}/experiments/{experiment_id}/resume", headers=HEADERS, timeout=30)
            assert resumed.status_code == 202, resumed.text
            deadline = time.monotonic() + 120
            while (status := status_of(url, experiment_id))["status"] not in ("completed", "failed"):
                assert time.monotonic() < deadline, status
                time.sleep(0.2)
        finally:
            second.stop()
    finally:
        gemini.latency_s = 0.0

    assert status["status"] == "completed", status
    assert status["progress"] == {"done": 30, "total": 30, "failed": 0}
    ids = run_ids(experiment_id)
    assert len(ids) == len(set(ids)) == 30
    assert written_before <= set(ids)
    expected = {f"form-{i:03d}~flash~{r}" for i in range(15) for r in range(2)}
    assert set(ids) == expected
