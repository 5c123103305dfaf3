"""The console (frontend/streamlit) as a process: what `./deploy.sh local` and the browser tests run.

    python -m streamlit run frontend/streamlit/app.py --server.port 8501 ...

It is a client of the HTTP API only: it gets the API's URL and a key, nothing of the emulators.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from infra.local.emulators import HOST, EmulatorProcess, spawn, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
CONSOLE_DIR = ROOT / "frontend" / "streamlit"
DEFAULT_CONSOLE_PORT = 8501
# Streamlit imports pandas and pyarrow before it answers: a few seconds on a cold disk.
READY_TIMEOUT_S = 60.0
# What the console may see of the caller's environment: no emulator hosts, no Google or Datadog keys.
_PASSED_ON = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "DD_RUM_APPLICATION_ID",
    "DD_RUM_CLIENT_TOKEN",
    "DD_SITE",
    "DD_ENV",
)


def console_environment(api_base_url: str, api_key: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if environ is None else environ
    passed = {name: source[name] for name in _PASSED_ON if name in source}
    return passed | {
        "API_BASE_URL": api_base_url,
        "API_KEY": api_key,
        "PYTHONPATH": str(ROOT),  # the "generate a sample form" demo draws forms with shared.synthetic
        "PYTHONUNBUFFERED": "1",
    }


def start_console(
    *,
    port: int,
    api_base_url: str,
    api_key: str,
    log_path: Path,
    stack_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> EmulatorProcess:
    """Start Streamlit on `port` and wait until it answers its health check."""
    url = f"http://{HOST}:{port}"
    started = time.monotonic()
    popen = spawn(
        "console",
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(CONSOLE_DIR / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            HOST,
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        log_path=log_path,
        env=console_environment(api_base_url, api_key, environ),
        cwd=CONSOLE_DIR,
        stack_id=stack_id,
    )
    process = EmulatorProcess("console", popen, log_path, url, stack_id)
    wait_until_ready(process, f"{url}/_stcore/health", timeout=READY_TIMEOUT_S, started=started)
    return process
