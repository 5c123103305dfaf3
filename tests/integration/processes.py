"""The gateway as a real process (what `./deploy.sh local` runs), for tests that need one."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import requests

from infra.local.emulators import EmulatorProcess, free_ports, spawn, wait_until_ready
from shared.experiments.shards import ShardMessage

ROOT = Path(__file__).resolve().parents[2]


def start_gateway(
    log_dir: Path, *, expect_healthy: bool = True, port: int | None = None, **env_overrides: str
) -> tuple[EmulatorProcess, str]:
    """The gateway on `port` (a free one by default: give the old one to restart a killed gateway)."""
    port = port or free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **env_overrides}
    started = time.monotonic()
    popen = spawn(
        "gateway",
        [sys.executable, "-m", "infra.local.gateway", "--port", str(port)],
        log_path=log_dir / f"gateway-{port}.log",
        env=env,
        cwd=ROOT,
    )
    process = EmulatorProcess("gateway", popen, log_dir / f"gateway-{port}.log", url)
    if expect_healthy:
        wait_until_ready(process, f"{url}/healthz", timeout=60, started=started)
    else:
        wait_for_any_answer(f"{url}/healthz", deadline=started + 60)
    return process, url


def wait_for_any_answer(url: str, *, deadline: float) -> requests.Response:
    while True:
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_shard_pipeline(log_dir: Path, project: str, **env_overrides: str) -> tuple[EmulatorProcess, str, str]:
    """A gateway process whose experiments fan out to a topic of its own, pushed by the Pub/Sub
    emulator to its `experiments-worker`; returns (process, url, topic)."""
    import uuid

    from infra.local.pubsub import ensure_shard_subscription

    topic = f"shards-{uuid.uuid4().hex[:8]}"
    process, url = start_gateway(log_dir, SHARDS_TOPIC=topic, **env_overrides)
    try:
        ensure_shard_subscription(project=project, topic=topic, push_endpoint=f"{url}/experiments-worker")
    except BaseException:
        process.stop()
        raise
    return process, url, topic


def redeliver(topic: str, message: ShardMessage) -> None:
    """Publish a shard message again, as Pub/Sub's at-least-once delivery may."""
    from shared.config import get_settings
    from shared.pubsub import PubSubPublisher

    publisher = PubSubPublisher(project=get_settings().gcp_project, topic=topic)
    assert publisher.publish([(message.encode(), {"experiment_id": message.experiment_id})]) == [True]
