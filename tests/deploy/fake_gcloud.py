"""A stand-in `gcloud` on PATH: records each call (arguments and piped stdin) and answers lookups.

Lets the deploy run end to end offline: the printed dry-run script and `./deploy.sh deploy`
itself call it instead of Google Cloud, and the test reads what they asked for.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

PROJECT_NUMBER = "123456789012"
TRIGGER = "projects/p/locations/europe-west1/triggers/experiments-worker-000111"
SUBSCRIPTION = "projects/p/subscriptions/eventarc-europe-west1-experiments-worker-000111-sub-222"

_SCRIPT = """#!{python}
import sys
sys.path.insert(0, {root!r})
from tests.deploy.fake_gcloud import answer
sys.exit(answer(sys.argv[1:]))
"""


def install(bin_dir: Path) -> Path:
    """Write the executable `gcloud` into `bin_dir`; returns the log file it appends to."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    script = bin_dir / "gcloud"
    script.write_text(_SCRIPT.format(python=sys.executable, root=str(root)))
    script.chmod(0o755)
    return bin_dir / "gcloud-calls.jsonl"


def calls(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def answer(args: list[str]) -> int:
    stdin = sys.stdin.read() if "--data-file=-" in args else None
    log = Path(os.environ.get("FAKE_GCLOUD_LOG", Path(__file__).with_name("gcloud-calls.jsonl")))
    with log.open("a") as handle:
        handle.write(json.dumps({"args": args, "stdin": stdin}) + "\n")
    if args[:2] == ["projects", "describe"]:
        print(PROJECT_NUMBER)
    elif args[:2] == ["functions", "describe"] and any("eventTrigger.trigger" in a for a in args):
        print(TRIGGER)
    elif args[:3] == ["eventarc", "triggers", "describe"]:
        print(SUBSCRIPTION)
    elif args[:3] == ["scheduler", "jobs", "describe"]:
        return 0 if os.environ.get("FAKE_SCHEDULER_JOB_EXISTS") == "1" else 1
    return 0
