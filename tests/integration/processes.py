"""The gateway as a real process (what `./deploy.sh local` runs), for tests that need one."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import requests

from infra.local.emulators import EmulatorProcess, free_ports, spawn, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


def start_gateway(log_dir: Path, *, expect_healthy: bool = True, **env_overrides: str) -> tuple[EmulatorProcess, str]:
    [port] = free_ports(1)
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
