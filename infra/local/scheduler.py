"""Cloud Scheduler, locally: POST the gateway's `/experiments-scheduled` on a fixed tick.

The deployed job calls the function every hour with an OIDC token and stamps each call with the
time it was scheduled for (`X-CloudScheduler-ScheduleTime`); this loop does the same every
`--interval-s` seconds (default 60) with the API key, which the function accepts locally (the first
plain key of API_KEYS; with named keys, which hold only digests, the key in API_KEY). A tick that
fails is logged and the loop goes on, as Cloud Scheduler does.

    python -m infra.local.scheduler --base-url http://127.0.0.1:8080 [--interval-s 60] [--once]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import requests

from shared.config import LOCAL_API_KEY


def scheduler_api_key(environ: Mapping[str, str]) -> str:
    """The first plain key of API_KEYS; named keys (JSON) hold digests only, so then API_KEY."""
    configured = (environ.get("API_KEYS") or LOCAL_API_KEY).strip()
    if configured.startswith("{"):
        return environ.get("API_KEY") or LOCAL_API_KEY
    return configured.split(",")[0].strip()


def tick(base_url: str, api_key: str, schedule_time: datetime) -> dict:
    response = requests.post(
        f"{base_url}/experiments-scheduled",
        headers={
            "X-API-Key": api_key,
            "X-CloudScheduler": "true",
            "X-CloudScheduler-ScheduleTime": schedule_time.isoformat(),
        },
        timeout=900,
    )
    response.raise_for_status()
    return response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--interval-s", type=float, default=float(os.environ.get("LOCAL_SCHEDULER_INTERVAL_S", "60")))
    parser.add_argument("--once", action="store_true", help="one tick, then exit")
    args = parser.parse_args()
    api_key = scheduler_api_key(os.environ)
    while True:
        now = time.time()
        scheduled = datetime.fromtimestamp(now - now % args.interval_s, UTC)
        try:
            answer = tick(args.base_url, api_key, scheduled)
            started = [item["experiment_id"] for item in answer["started"]]
            print(
                json.dumps({"tick": scheduled.isoformat(), "started": started, "errors": answer["errors"]}), flush=True
            )
        except (requests.RequestException, ValueError, KeyError) as error:
            print(json.dumps({"tick": scheduled.isoformat(), "error": f"{type(error).__name__}: {error}"}), flush=True)
        if args.once:
            return
        time.sleep(max(1.0, scheduled.timestamp() + args.interval_s - time.time()))


if __name__ == "__main__":
    main()
