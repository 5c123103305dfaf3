"""Shards sharing the model's quota (EXPERIMENT_QUOTA_RPM), through the real path.

The Pub/Sub emulator pushes the shards to a gateway process's experiments-worker; each running
shard holds its share in Firestore and paces its calls to the quota stand-in (`bench.quota_standin`,
a process of its own), which enforces the quota over a 10 s sliding window (the quota scaled to
it) and answers 429 with Retry-After beyond it. Without the shared budget the shards' adaptive
limits learn the quota from 429s (32 for this experiment, in the run that checked this test can
fail).
"""

from __future__ import annotations

import sys
import time

import pytest
import requests

from infra.local.emulators import EmulatorProcess, free_ports, spawn, wait_until_ready
from shared.models import run_id
from shared.storage.clients import firestore_client
from shared.storage.quota_shares import QUOTA_SHARES
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, large_published_dataset
from tests.integration.processes import ROOT, start_shard_pipeline
from tests.integration.test_experiment_shards import run_documents, wait_finished

RPM = 1800  # 300 calls in any 10 s window, 30 a second
ENTRIES, VARIANTS, REPETITIONS = 150, ("flash_a", "flash_b"), 2


@pytest.fixture
def quota_standin(tmp_path):
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.quota_standin", "--port", str(port), "--rpm", str(RPM), "--tpm", "0"]
    command += ["--min-ms", "200", "--max-ms", "600", "--window-s", "10"]
    log = tmp_path / "quota-standin.log"
    process = EmulatorProcess("quota stand-in", spawn("quota stand-in", command, log_path=log, cwd=ROOT), log, url)
    wait_until_ready(process, f"{url}/stats", timeout=30, started=time.monotonic())
    try:
        yield url
    finally:
        process.stop()


def test_shards_sharing_the_quota_stay_within_it_and_make_each_run_once(
    local_stack, datasets_client, quota_standin, tmp_path
):
    gateway, url, _ = start_shard_pipeline(
        tmp_path,
        local_stack.project,
        SHARD_SIZE="100",
        MAX_CONCURRENT_SHARDS="3",
        GEMINI_BASE_URL=quota_standin,
        GEMINI_TIMEOUT_S="5",
        # Gemini's retry delays as deployed (the session's are 0.05-0.2 s): a 429's Retry-After is waited out.
        GEMINI_RETRY_INITIAL_DELAY_S="1",
        GEMINI_RETRY_MAX_DELAY_S="16",
        EXPERIMENT_QUOTA_RPM=str(RPM),
    )
    try:
        dataset, _ = large_published_dataset(datasets_client, [generate_form(970 + i) for i in range(2)], ENTRIES)
        body = {
            "name": "quota shared",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [{"name": name, "model": "gemini-2.5-flash"} for name in VARIANTS],
            "evaluators": ["vote_count_exact"],
            "repetitions": REPETITIONS,
            "concurrency": 16,
        }
        started = requests.post(f"{url}/experiments", json=body, headers=HEADERS, timeout=60)
        assert started.status_code == 202, started.text
        experiment_id = started.json()["experiment_id"]
        status = wait_finished(url, experiment_id, timeout=150)
    finally:
        gateway.stop()

    total = ENTRIES * len(VARIANTS) * REPETITIONS
    assert status["status"] == "completed", status
    assert status["progress"] == {"done": total, "total": total, "failed": 0}
    expected = {run_id(f"e{i:05d}", v, r) for i in range(ENTRIES) for v in VARIANTS for r in range(REPETITIONS)}
    ids = run_documents(experiment_id)
    assert len(ids) == total and set(ids) == expected
    counts = requests.get(f"{quota_standin}/stats", timeout=10).json()["per_second"].values()
    answered, refused = sum(c[0] for c in counts), sum(c[2] for c in counts)
    assert answered == total  # each run's model call went through once
    assert refused <= total * 20 / 1000, f"{refused} 429s for {total} runs"
    # Every shard gave its share back as it ended.
    assert list(firestore_client().collection(QUOTA_SHARES).stream()) == []
