"""A new instance's first request against a warm one, per function, served as in production.

Each round starts a fresh `functions-framework` process (gunicorn, one worker, as Cloud Functions
gen2 runs it) on a free port against real emulators (Firestore, Cloud Storage, Pub/Sub, the Datadog
test agent), and times: process start until the port answers, the first request, then the same
request again (median of several). The breakdown runs the same steps in a fresh interpreter with
timing probes between them: import, LLM Observability, the Google clients, the use cases
(`shared/wiring`), the first and a second Firestore RPC, then the first and a second request
through the app.

    python -m bench.first_request [--rounds 5] [--functions extract,datasets]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.machine import describe_machine
from infra.local.emulators import LocalStack, StackPorts, ensure_bucket, free_ports, spawn, start_stack

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "cold-start-key"
WARM_REQUESTS = 5
UNKNOWN_EXTRACTION = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Probe:
    """The representative request of a function: it reaches Firestore through the function's use cases."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


def _shard_event(experiment_id: str) -> Probe:
    # A Pub/Sub push as functions-framework receives it (binary CloudEvent): a shard of an experiment
    # that does not exist, which the worker reads, finds missing and acks.
    data = base64.b64encode(json.dumps({"experiment_id": experiment_id, "shard": 0}).encode()).decode()
    headers = {
        "Content-Type": "application/json",
        "ce-id": "cold-start-1",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/experiment-shards",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
    }
    return Probe("POST", "/", headers, json.dumps({"message": {"data": data}}).encode())


_KEY = {"X-API-Key": API_KEY}
PROBES: dict[str, Probe] = {
    "extract": Probe("GET", "/?page_size=1", _KEY),
    "feedback": Probe("GET", f"/?extraction_id={UNKNOWN_EXTRACTION}", _KEY),
    "datasets": Probe("GET", "/", _KEY),
    "experiments": Probe("GET", "/", _KEY),
    # Locally (ENVIRONMENT=local) the scheduled trigger takes the API key in place of Cloud Scheduler's token.
    "experiments_scheduled": Probe("POST", "/", _KEY | {"Content-Type": "application/json"}, b"{}"),
    "experiments_worker": _shard_event("cold-start-unknown-experiment"),
}


def function_environment(stack: LocalStack) -> dict[str, str]:
    return {
        **os.environ,
        **stack.env(),
        "API_KEYS": API_KEY,
        "ENVIRONMENT": "local",
        "CROSS_CHECK": "off",
        "PYTHONPATH": str(ROOT),
    }


@contextlib.contextmanager
def running_stack(log_dir: Path) -> Iterator[LocalStack]:
    stack = LocalStack(ports=StackPorts.free())
    running = start_stack(stack.ports, log_dir, project=stack.project, bucket=stack.bucket)
    try:
        ensure_bucket(stack.storage_url, stack.project, stack.bucket)
        yield stack
    finally:
        running.stop()


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _timed(url: str, probe: Probe) -> tuple[float, int]:
    started = time.perf_counter()
    response = requests.request(probe.method, url, headers=probe.headers, data=probe.body, timeout=120)
    return time.perf_counter() - started, response.status_code


@contextlib.contextmanager
def served_function(function: str, env: dict[str, str], log_dir: Path) -> Iterator[tuple[str, float]]:
    """`function` served by a fresh functions-framework process (gunicorn, as deployed) on a free
    port: yields its base URL and the seconds from process start until the port answered."""
    port = free_ports(1)[0]
    source = ROOT / "functions" / function / "main.py"
    command = [
        sys.executable, "-m", "functions_framework",
        "--target", function, "--source", str(source), "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    log_path = log_dir / f"{function}-{port}.log"
    started = time.perf_counter()
    process = spawn(function, command, log_path=log_path, env=env, cwd=ROOT)
    try:
        while not _port_answers(port):
            if process.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError(f"{function} did not start; see {log_path}")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}", time.perf_counter() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # its own session: gunicorn's master and worker
        process.wait(timeout=30)


def serve_once(function: str, env: dict[str, str], log_dir: Path) -> dict[str, float]:
    """One fresh process: seconds to ready, the first request, and the median warm request."""
    probe = PROBES[function]
    with served_function(function, env, log_dir) as (base_url, ready):
        url = base_url + probe.path
        timings = [_timed(url, probe) for _ in range(1 + WARM_REQUESTS)]
    failed = [status for _, status in timings if status >= 500]
    if failed:
        raise RuntimeError(f"{function}'s probe request answered {failed[0]}; see its log under {log_dir}")
    return {"ready_s": ready, "first_s": timings[0][0], "warm_s": statistics.median(t for t, _ in timings[1:])}


_BREAKDOWN = """
import json, sys, time
sys.path.insert(0, {root!r})
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import functions_framework
app = functions_framework.create_app(target={function!r}, source={source!r})
mark("import")
client = app.test_client()  # flask's test client imports click and pdb: not the request's
imported = set(sys.modules)
from shared.config import get_settings
from shared.observability.llmobs import enable_llmobs
enable_llmobs(get_settings())
mark("llmobs")
from shared.storage.clients import firestore_client
firestore_client()
mark("firestore")
import importlib
for ref in {factories!r}:
    module_name, factory = ref.split(":")
    getattr(importlib.import_module(module_name), factory)()
mark("wiring")
firestore_client().collection("cold-start-probe").document("x").get()
mark("1st RPC")
firestore_client().collection("cold-start-probe").document("x").get()
mark("2nd RPC")
client.open({path!r}, method={method!r}, headers={headers!r}, data={body!r})
mark("1st request")
lazy = {{}}
for name in set(sys.modules) - imported:
    package = ".".join(name.split(".")[:3 if name.startswith("google.") else 1])
    lazy[package] = lazy.get(package, 0) + 1
client.open({path!r}, method={method!r}, headers={headers!r}, data={body!r})
mark("warm")
steps = {{name: marks[i][1] - marks[i - 1][1] for i, (name, _) in enumerate(marks) if i}}
print(json.dumps({{"steps": steps, "lazy_modules": lazy}}))
"""


STEPS_LEGEND = (
    "import: functions-framework loads main.py; llmobs: enable LLM Observability; firestore: build the Firestore\n"
    "client; wiring: the function's use cases (with the Cloud Storage client where it reads images); 1st RPC, 2nd\n"
    "RPC: a Firestore document read, the first opens the gRPC channel; 1st request: the probe request after all\n"
    "that; warm: the same request again"
)


def breakdown_once(function: str, env: dict[str, str]) -> dict[str, object]:
    """The steps' seconds, and the modules first imported after `main.py` (by package: count)."""
    from bench.cold_start import WIRING

    probe = PROBES[function]
    script = _BREAKDOWN.format(
        root=str(ROOT),
        function=function,
        source=str(ROOT / "functions" / function / "main.py"),
        factories=WIRING.get(function, []),
        path=probe.path,
        method=probe.method,
        headers=probe.headers,
        body=probe.body,
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.3f}s ({min(values):.3f}-{max(values):.3f})"


def print_served_tables(functions: list[str], *, rounds: int) -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp, running_stack(Path(tmp)) as stack:
        env = function_environment(stack)
        print(f"\nServed (functions-framework, gunicorn) against real emulators; {rounds} fresh processes each")
        print(
            f"{'function':24s} {'start to ready':>24s} {'first request':>24s} {'warm request':>24s} "
            f"{'first - warm':>24s}"
        )
        breakdowns = {}
        for function in functions:
            samples = [serve_once(function, env, Path(tmp)) for _ in range(rounds)]
            extra = [s["first_s"] - s["warm_s"] for s in samples]
            print(
                f"{function:24s} {_spread([s['ready_s'] for s in samples]):>24s} "
                f"{_spread([s['first_s'] for s in samples]):>24s} {_spread([s['warm_s'] for s in samples]):>24s} "
                f"{_spread(extra):>24s}"
            )
            breakdowns[function] = [breakdown_once(function, env) for _ in range(rounds)]
        steps = list(next(iter(breakdowns.values()))[0]["steps"])
        print(f"\nThe first request, step by step (median of {rounds} fresh interpreters, seconds)")
        print(f"{'function':24s} " + " ".join(f"{step:>11s}" for step in steps))
        for function, samples in breakdowns.items():
            medians = [statistics.median(s["steps"][step] for s in samples) for step in steps]
            print(f"{function:24s} " + " ".join(f"{m:11.3f}" for m in medians))
        print(STEPS_LEGEND)
        print("\nModules the first request imports after main.py (package: count; the largest first)")
        for function, samples in breakdowns.items():
            lazy = sorted(samples[0]["lazy_modules"].items(), key=lambda item: -item[1])
            total = sum(count for _, count in lazy)
            print(f"{function:24s} {total:4d}: " + ", ".join(f"{name} {count}" for name, count in lazy[:8]))
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--functions", default=",".join(PROBES))
    args = parser.parse_args()
    print(describe_machine())
    print_served_tables(args.functions.split(","), rounds=args.rounds)


if __name__ == "__main__":
    main()
