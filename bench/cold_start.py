"""Cold start: the import time of each function's `main.py` in a fresh interpreter.

Also reports the first-request set-up that follows the import (enabling LLM Observability and
building the Google clients), then the function's use cases built by its composition root
(`shared/wiring`: what its first request builds), and checks that no heavy library (ragas, torch,
cv2) is loaded on the import path.

The second table (`bench.first_request`) serves each function as production does (functions-framework
under gunicorn) against real emulators and times process start to ready, the first request and the
same request warm; the third breaks the first request down.

    python -m bench.cold_start [--runs 7] [--rounds 5] [--skip-served]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("ragas", "torch", "cv2", "pytesseract", "google.genai", "langchain_core", "google.cloud.pubsub_v1", "scipy")

_PROBE = """
import importlib.util, json, sys, time
sys.path.insert(0, {root!r})
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", {source!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()
loaded_by_import = set(sys.modules)
from shared.config import get_settings
from shared.observability.llmobs import enable_llmobs
enable_llmobs(get_settings())
from shared.storage.clients import firestore_client, storage_client
firestore_client(); storage_client()
ready = time.perf_counter()
heavy = [m for m in {heavy!r} if m in sys.modules]
setup_imports = sorted({{".".join(m.split(".")[:3 if m.startswith("google.") else 1])
                         for m in set(sys.modules) - loaded_by_import}})
for ref in {factories!r}:
    module_name, factory = ref.split(":")
    getattr(importlib.import_module(module_name), factory)()
wired = time.perf_counter()
print(json.dumps({{"import_s": imported - started, "first_request_setup_s": ready - imported,
                  "wiring_s": wired - ready, "heavy": heavy, "setup_imports": setup_imports,
                  "pydantic_ai": "pydantic_ai" in sys.modules}}))
"""

# What each function's first request builds: its use cases, from its composition root.
WIRING = {
    "extract": ["shared.wiring.extract:extraction_service"],
    "feedback": ["shared.wiring.feedback:feedback_service"],
    "datasets": ["shared.wiring.datasets:dataset_service", "shared.wiring.datasets:review_service"],
    "experiments": [
        "shared.wiring.experiments:experiment_commands",
        "shared.wiring.experiments:experiment_queries",
        "shared.wiring.experiments:schedule_service",
    ],
    "experiments_scheduled": [
        "shared.wiring.experiments_scheduled:schedule_service",
        "shared.wiring.experiments_scheduled:experiment_recovery",
        "shared.wiring.experiments_scheduled:alert_service",
    ],
    "experiments_worker": ["shared.wiring.experiments_worker:shard_worker"],
}


def measure(function: str, runs: int) -> dict[str, object]:
    source = ROOT / "functions" / function / "main.py"
    probe = _PROBE.format(root=str(ROOT), source=str(source), heavy=HEAVY, factories=WIRING.get(function, []))
    # Emulator addresses stand in for credentials; nothing is contacted while clients are built.
    env = {
        **os.environ,
        "DD_TRACE_AGENT_URL": "http://127.0.0.1:9",
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
    }
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "import_median_s": statistics.median(s["import_s"] for s in samples),
        "import_max_s": max(s["import_s"] for s in samples),
        "setup_median_s": statistics.median(s["first_request_setup_s"] for s in samples),
        "wiring_median_s": statistics.median(s["wiring_s"] for s in samples),
        "ready_median_s": statistics.median(
            s["import_s"] + s["first_request_setup_s"] + s["wiring_s"] for s in samples
        ),
        "heavy_on_import_path": sorted({m for s in samples for m in s["heavy"]}),
        # Top-level packages the first request's set-up still imports (shared.wiring.instance loads
        # ddtrace's and the Google clients' libraries with main.py), and whether pydantic_ai got in.
        "imported_by_setup": sorted({m for s in samples for m in s["setup_imports"]}),
        "pydantic_ai_loaded": any(s["pydantic_ai"] for s in samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5, help="fresh served processes per function")
    parser.add_argument("--skip-served", action="store_true", help="only the import table")
    args = parser.parse_args()
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/main.py"))
    print(f"{describe_machine()}; {args.runs} runs each")
    print(
        f"{'function':24s} {'import p50':>11s} {'import max':>11s} {'+ first-request setup':>22s} "
        f"{'+ wiring':>9s} {'ready p50':>10s}  heavy modules loaded"
    )
    for function in functions:
        row = measure(function, args.runs)
        print(
            f"{function:24s} {row['import_median_s']:10.3f}s {row['import_max_s']:10.3f}s "
            f"{row['setup_median_s']:21.3f}s {row['wiring_median_s']:8.3f}s {row['ready_median_s']:9.3f}s  "
            f"{', '.join(row['heavy_on_import_path']) or 'none'}"
        )
    if not args.skip_served:
        from bench.first_request import print_served_tables

        print_served_tables(functions, rounds=args.rounds)


if __name__ == "__main__":
    main()
