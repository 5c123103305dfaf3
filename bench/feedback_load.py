"""Feedback under load: concurrent POST /feedback against the running local stack.

    ./deploy.sh local --detach
    .venv/bin/python -m bench.feedback_load [--posts 1000] [--concurrency 1,8,32] [--extractions 10]

Each post is a different feedback (its own id) on one of a few extractions, as many users rating
the same forms would send; it reports throughput and p50/p99 latency per concurrency, and checks
that every summary counter is exact afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.machine import describe_machine
from shared.synthetic.forms import generate_form


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def make_extractions(base_url: str, headers: dict[str, str], count: int) -> list[dict]:
    extractions = []
    for seed in range(count):
        form = generate_form(9000 + seed)
        response = requests.post(
            f"{base_url}/extract", headers=headers, files={"image": ("f.png", form.image, "image/png")}, timeout=120
        )
        response.raise_for_status()
        extractions.append(response.json())
    return extractions


def run(base_url: str, headers: dict[str, str], extractions: list[dict], posts: int, concurrency: int) -> dict:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency))

    def post(index: int) -> tuple[float, int]:
        extraction = extractions[index % len(extractions)]
        body = {
            "span_id": extraction["span_id"],
            "trace_id": extraction["trace_id"],
            "feedback_type": "thumbs_up" if index % 3 else "thumbs_down",
            "quality_score": index % 5 + 1,
            "comment": "load test",
            "feedback_id": uuid.uuid4().hex,
        }
        started = time.perf_counter()
        response = session.post(f"{base_url}/feedback", json=body, headers=headers, timeout=60)
        return time.perf_counter() - started, response.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(post, range(posts)))
    wall = time.perf_counter() - started
    latencies = [seconds * 1000 for seconds, _ in results]
    return {
        "concurrency": concurrency,
        "posts": posts,
        "ok": sum(status == 201 for _, status in results),
        "per_second": posts / wall,
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    parser.add_argument("--api-key", default="local-dev-key")
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--extractions", type=int, default=10)
    args = parser.parse_args()
    headers = {"X-API-Key": args.api_key}
    try:
        requests.get(f"{args.base_url}/healthz", timeout=5).raise_for_status()
    except requests.RequestException:
        print(f"No healthy local stack at {args.base_url}: start it with ./deploy.sh local --detach", file=sys.stderr)
        return 1

    extractions = make_extractions(args.base_url, headers, args.extractions)
    rows = [run(args.base_url, headers, extractions, args.posts, int(level)) for level in args.concurrency.split(",")]
    expected_posts = sum(row["posts"] for row in rows)
    counted = 0
    for extraction in extractions:
        summary = requests.get(
            f"{args.base_url}/extract/{extraction['extraction_id']}", headers=headers, timeout=30
        ).json()["feedback_summary"]
        counted += summary["thumbs_up"] + summary["thumbs_down"]

    print(describe_machine())
    print("one gateway process (werkzeug, threaded) over the Firestore emulator; every post is a new feedback")
    print(f"{'concurrency':>11s} {'posts':>6s} {'201s':>6s} {'posts/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for row in rows:
        print(
            f"{row['concurrency']:11d} {row['posts']:6d} {row['ok']:6d} {row['per_second']:8.1f} "
            f"{row['p50_ms']:8.1f} {row['p99_ms']:8.1f}"
        )
    verdict = "exact" if counted == expected_posts else "WRONG"
    print(f"summary counters: {counted} counted for {expected_posts} posts ({verdict})")
    return 0 if counted == expected_posts else 1


if __name__ == "__main__":
    sys.exit(main())
