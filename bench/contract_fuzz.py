"""Deep contract fuzzing: thousands of Schemathesis requests against a gateway on the emulators.

The contract test (`tests/integration/test_contract_fuzz.py`) sends a few dozen examples per
operation on every `./deploy.sh test`, the same ones each time; this run keeps going, one seed after
another (each seed its own requests), until it has sent `--requests` requests, and prints the
requests, the failures and the time. It starts its own Firestore, Pub/Sub, Cloud Storage and
Datadog test agent on free ports, and a gateway process (tesseract as the default model; Gemini is
not configured, so Gemini variants answer 503).

    python -m bench.contract_fuzz [--requests 5000] [--examples 100] [--seed 1] [--paths REGEX]

`--paths ^/extract/form-types` spends the whole budget on one resource's operations.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.machine import describe_machine
from infra.local.contract_fuzz import EXCLUDED_PATHS, EXCLUSIONS, FuzzOutcome, run_contract_fuzz
from infra.local.emulators import LocalStack, StackPorts, ensure_bucket, start_stack

API_KEY = "bench-key"
PROJECT = "vote-extractor-fuzz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="keep fuzzing until this many were sent")
    parser.add_argument("--examples", type=int, default=100, help="Schemathesis --max-examples per run")
    parser.add_argument("--seed", type=int, default=1, help="the first run's seed; each next run adds 1")
    parser.add_argument("--keep-reports", type=Path, help="keep the JSON and HAR reports here")
    parser.add_argument("--paths", help="fuzz only the operations whose path matches this regex")
    args = parser.parse_args()

    print(describe_machine())
    with tempfile.TemporaryDirectory(prefix="contract-fuzz-") as scratch:
        reports = args.keep_reports or Path(scratch) / "reports"
        outcomes = fuzz(
            Path(scratch), reports, requests=args.requests, examples=args.examples, seed=args.seed, paths=args.paths
        )
    sent = sum(outcome.requests for outcome in outcomes)
    failures = sum(outcome.failures for outcome in outcomes)
    errors = sum(outcome.errors for outcome in outcomes)
    seconds = sum(outcome.seconds for outcome in outcomes)
    print("excluded: " + "; ".join(f"{path} ({why})" for path, why in EXCLUDED_PATHS.items()))
    for exclusion in EXCLUSIONS:
        also = f" (also {', '.join(map(str, exclusion.also_accepted))})" if exclusion.also_accepted else ""
        print(f"set aside: {exclusion.operation_id} {exclusion.check}{also}: {exclusion.reason}")
    print(
        f"contract fuzz (deep): {len(outcomes)} runs, {outcomes[0].operations} operations, {sent} requests, "
        f"{failures} failures, {errors} errors in {seconds:.0f} s ({sent / max(seconds, 1e-9):.0f} requests/s)"
    )
    raise SystemExit(1 if failures or errors else 0)


def fuzz(
    scratch: Path, reports: Path, *, requests: int, examples: int, seed: int, paths: str | None = None
) -> list[FuzzOutcome]:
    stack = LocalStack(ports=StackPorts.free(), project=PROJECT)
    os.environ.update(stack.env() | {"API_KEYS": API_KEY, "DEFAULT_MODEL": "tesseract"})
    running = start_stack(stack.ports, scratch / "logs", project=stack.project, bucket=stack.bucket)
    # Imported late: the gateway helper reads the environment set just above when it starts the process.
    from tests.integration.processes import start_gateway

    gateway = None
    try:
        ensure_bucket(stack.storage_url, stack.project, stack.bucket)
        gateway, url = start_gateway(scratch / "logs")
        outcomes: list[FuzzOutcome] = []
        while sum(outcome.requests for outcome in outcomes) < requests:
            started = time.monotonic()
            outcome = run_contract_fuzz(
                url,
                api_key=API_KEY,
                report_dir=reports,
                max_examples=examples,
                seed=seed,
                include_path_regex=paths,
                deterministic=False,  # each seed its own requests (deterministic mode ignores the seed)
            )
            outcomes.append(outcome)
            print(f"seed {seed}: {outcome.summary_line()} (wall {time.monotonic() - started:.0f} s)", flush=True)
            if outcome.failures or outcome.errors:
                print(outcome.output[-6000:])
            seed += 1
        return outcomes
    finally:
        if gateway is not None:
            gateway.stop()
        running.stop()


if __name__ == "__main__":
    main()
