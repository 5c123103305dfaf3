"""Quota-bound fan-out: one large experiment over several workers against a project-wide quota.

    python -m bench.quota_fanout [--budget independent|shared] [--entries 5000] [--workers 5]
        [--rpm 4000] [--tpm 5000000] [--shard-size 400] [--concurrency 40]

It starts its own stack on free ports: Firestore, Cloud Storage and Pub/Sub emulators, Datadog's
test agent, the quota stand-in (`bench.quota_standin`: requests and tokens a minute over a
sliding window, 429 RESOURCE_EXHAUSTED with Retry-After beyond them, 1-3 s a call) and `--workers`
processes, each functions-framework serving `experiments_worker` as deployed (one shard an
instance, MAX_CONCURRENT_SHARDS=1). A small dispatcher (this process) takes the shards from the
Pub/Sub emulator and hands each to an idle worker as Pub/Sub's push would, holding at most one a
worker as Cloud Run at max instances does; a refusal (429) or failure is nacked and Pub/Sub
delivers it again with backoff (1-10 s). It pulls rather than being pushed to: the emulator pushes
at most two messages of a subscription at once (see `Dispatcher`). The experiment (entries x 2 variants x 2
repetitions, two evaluators) is started through the `experiments` function, in this process.

`--budget independent` is today's design: each shard's AdaptiveLimiter learns the quota alone.
`--budget shared` sets EXPERIMENT_QUOTA_RPM / _TPM on the workers (`shared.experiments.budget`).

What it prints, from the stand-in's per-second counts:
- use of the quota per 10 s window: max(calls / RPM, tokens / TPM) over the window, per minute;
- the plateau: the level is the median window between the first shard starting and the drain
  (the first shard to finish after the last one started: from then on workers go idle); the
  plateau starts at the first window at 90% of that level and ends at the drain; its share is
  the mean of the windows inside it. Time to plateau: from the experiment's start to its start;
- 429s per 1,000 runs: every 429 the stand-in answered (transport retries included) / runs;
- reconciliation: `lost` = expected run ids without a succeeded run document, plus evaluations
  (runs x evaluators) that never reached the test agent; `doubled` = run ids whose model call
  succeeded more than once (llm spans without error at the test agent, by experiment, entry,
  variant and repetition), plus evaluations (span, label) the agent received more than once.

The last line is `quota fan-out: N runs, N% of quota, N 429s per 1000 runs, lost N, doubled N`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.machine import describe_machine
from infra.local.emulators import (
    EmulatorProcess,
    ensure_bucket,
    free_ports,
    spawn,
    start_firestore,
    start_gcs,
    start_pubsub,
    start_test_agent,
)

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "bench-key"
HEADERS = {"X-API-Key": API_KEY}
PROJECT, BUCKET = "vote-extractor-bench", "vote-extractor-images"
EVALUATORS = ("vote_count_exact", "vote_count_accuracy")
VARIANTS = ("flash_a", "flash_b")
REPETITIONS = 2
WINDOW_S = 10


@dataclass
class ShardTimes:
    """When the dispatcher handed shards to workers, and when the runs came back (wall clock)."""

    runs: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, shard) answered 2xx
    refused: int = 0  # deliveries nacked because every worker was busy
    peak_busy: int = 0  # most workers running a shard at once


class Dispatcher:
    """Hands shards to idle workers, as Eventarc pushes to experiments-worker up to its max instances.

    The Pub/Sub emulator pushes from two threads per subscription, one message at a time each: a
    push subscription would never keep more than 2 of the workers busy. So the dispatcher pulls
    instead, holding at most one message per worker (flow control), and forwards each as the push
    request functions-framework turns into a CloudEvent: acked when the worker answers 2xx, nacked
    otherwise (Pub/Sub delivers it again, after the subscription's backoff), as a push would be.
    """

    def __init__(self, worker_urls: list[str], *, project: str, topic: str) -> None:
        self._idle = list(worker_urls)
        self._workers = len(worker_urls)
        self._project, self._topic = project, topic
        self.times = ShardTimes()
        self._lock = threading.Lock()
        self._streaming: Any = None

    def start(self) -> Dispatcher:
        from google.cloud import pubsub_v1
        from google.protobuf import duration_pb2

        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic_path = publisher.topic_path(self._project, self._topic)
        self._subscription = subscriber.subscription_path(self._project, self._topic + "-dispatcher")
        publisher.create_topic(name=topic_path)
        subscriber.create_subscription(
            request={
                "name": self._subscription,
                "topic": topic_path,
                "ack_deadline_seconds": 600,
                "retry_policy": {  # what infra.local.pubsub gives the push subscription
                    "minimum_backoff": duration_pb2.Duration(seconds=1),
                    "maximum_backoff": duration_pb2.Duration(seconds=10),
                },
            }
        )
        self._streaming = subscriber.subscribe(
            self._subscription,
            callback=self._deliver,
            flow_control=pubsub_v1.types.FlowControl(max_messages=self._workers),
            scheduler=pubsub_v1.subscriber.scheduler.ThreadScheduler(ThreadPoolExecutor(max_workers=2 * self._workers)),
        )
        return self

    def stop(self) -> None:
        if self._streaming is not None:
            self._streaming.cancel()

    def _deliver(self, message: Any) -> None:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            self.times.peak_busy = max(self.times.peak_busy, self._workers - len(self._idle))
        if worker is None:
            with self._lock:
                self.times.refused += 1
            message.nack()
            return
        body = {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": dict(message.attributes),
                "messageId": message.message_id,
                "publishTime": message.publish_time.isoformat(),
            },
            "subscription": self._subscription,
        }
        started = time.time()
        try:
            status = requests.post(worker, json=body, timeout=900).status_code
        except requests.RequestException:
            status = 503
        finally:
            with self._lock:
                self._idle.append(worker)
        if status < 300:
            with self._lock:
                self.times.runs.append((started, time.time(), json.loads(message.data)["shard"]))
            message.ack()
        else:
            message.nack()


@contextlib.contextmanager
def _process(name: str, command: list[str], logs: Path, ready_url: str, env: dict[str, str]) -> Iterator[int]:
    """A helper process in its own group, ready once `ready_url` answers anything (a CloudEvent
    function answers a GET with an error status, but it answers)."""
    popen = spawn(name, command, log_path=logs / f"{name}.log", env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    process = EmulatorProcess(name, popen, logs / f"{name}.log", ready_url)
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(requests.ConnectionError):
                requests.get(ready_url, timeout=2)
                break
            if popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} did not start: see {logs / name}.log")
            time.sleep(0.2)
        yield process.pgid
    finally:
        process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=("independent", "shared"), default="shared")
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--rpm", type=int, default=4000)
    parser.add_argument("--tpm", type=int, default=5_000_000)
    parser.add_argument("--shard-size", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--min-ms", type=float, default=1000.0)
    parser.add_argument("--max-ms", type=float, default=3000.0)
    args = parser.parse_args()

    ports = free_ports(7 + args.workers)
    firestore_port, gcs_port, pubsub_port, agent_port, otlp_http, otlp_grpc, model_port = ports[:7]
    worker_ports = ports[7:]
    logs = Path(tempfile.mkdtemp(prefix="bench-quota-fanout-"))
    topic = f"shards-{os.getpid()}"
    os.environ.update(
        {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{pubsub_port}",
            "GCP_PROJECT": PROJECT,
            "IMAGES_BUCKET": BUCKET,
            "API_KEYS": API_KEY,
            "GEMINI_API_KEY": "bench-gemini-key",
            "GEMINI_BASE_URL": f"http://127.0.0.1:{model_port}",
            "LLMOBS_ENABLED": "true",
            "DD_TRACE_AGENT_URL": f"http://127.0.0.1:{agent_port}",
            "DD_APM_TRACING_ENABLED": "false",
            "SHARDS_TOPIC": topic,
            "SHARD_SIZE": str(args.shard_size),
        }
    )
    worker_env = {**os.environ, "MAX_CONCURRENT_SHARDS": "1", "RAGAS_DO_NOT_TRACK": "true"}
    if args.budget == "shared":
        worker_env |= {"EXPERIMENT_QUOTA_RPM": str(args.rpm), "EXPERIMENT_QUOTA_TPM": str(args.tpm)}
    load_before = os.getloadavg()
    print(describe_machine(), flush=True)
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    with contextlib.ExitStack() as stack:
        for process in (
            start_firestore(firestore_port, logs),
            start_gcs(gcs_port, logs),
            start_pubsub(pubsub_port, logs),
            start_test_agent(agent_port, logs, otlp_http_port=otlp_http, otlp_grpc_port=otlp_grpc),
        ):
            stack.callback(process.stop)
        model_url = f"http://127.0.0.1:{model_port}"
        stack.enter_context(
            _process(
                "quota-standin",
                [sys.executable, "-m", "bench.quota_standin", "--port", str(model_port), "--rpm", str(args.rpm)]
                + ["--tpm", str(args.tpm), "--min-ms", str(args.min_ms), "--max-ms", str(args.max_ms)],
                logs,
                f"{model_url}/stats",
                dict(os.environ),
            )
        )
        framework = str(Path(sys.executable).parent / "functions-framework")
        worker_urls = []
        for index, port in enumerate(worker_ports):
            url = f"http://127.0.0.1:{port}/"
            command = [framework, "--target", "experiments_worker", "--source"]
            command += [str(ROOT / "functions/experiments_worker/main.py"), "--port", str(port)]
            stack.enter_context(_process(f"worker-{index}", command, logs, url, worker_env))
            worker_urls.append(url)
        ensure_bucket(f"http://127.0.0.1:{gcs_port}", PROJECT, BUCKET)
        dispatcher = Dispatcher(worker_urls, project=PROJECT, topic=topic).start()
        stack.callback(dispatcher.stop)
        result = run(args, dispatcher, model_url, f"http://127.0.0.1:{agent_port}")
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; logs in {logs}")
    print(
        f"quota fan-out: {result.runs} runs, {100 * result.plateau_share:.0f}% of quota, "
        f"{result.per_thousand:.0f} 429s per 1000 runs, lost {result.lost}, doubled {result.doubled}"
    )


@dataclass
class Result:
    runs: int
    plateau_share: float
    per_thousand: float
    lost: int
    doubled: int


def run(args: argparse.Namespace, dispatcher: Dispatcher, model_url: str, agent_url: str) -> Result:
    dataset = _published_dataset(args.entries)
    experiments = _experiments_client()
    body = {
        "name": f"quota fan-out ({args.budget})",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": name, "model": "gemini-2.5-flash"} for name in VARIANTS],
        "evaluators": list(EVALUATORS),
        "repetitions": REPETITIONS,
        "concurrency": args.concurrency,
    }
    started = time.time()
    cpu_before = _machine_cpu()
    answer = experiments.post("/", json=body, headers=HEADERS)
    assert answer.status_code == 202, answer.json
    experiment_id = answer.json["experiment_id"]
    total = args.entries * len(VARIANTS) * REPETITIONS
    print(
        f"experiment {experiment_id}: {args.entries} entries x {len(VARIANTS)} variants x {REPETITIONS} repetitions "
        f"= {total} runs, shards of ~{args.shard_size}, concurrency {args.concurrency} a shard, "
        f"{args.workers} workers, budget {args.budget}; quota {args.rpm} RPM, {args.tpm} TPM",
        flush=True,
    )
    status = _wait_finished(experiment_id, model_url)
    finished = time.time()
    busy, total_ticks = (after - before for after, before in zip(_machine_cpu(), cpu_before, strict=True))
    print(
        f"experiment {status} after {finished - started:.0f} s; the machine's CPU (all processes, "
        f"{os.cpu_count()} cores) was {100 * busy / max(1, total_ticks):.0f}% busy meanwhile",
        flush=True,
    )

    stats = requests.get(f"{model_url}/stats", timeout=30).json()
    windows = _windows(stats, args.rpm, args.tpm)
    origin = stats["started"]
    print(f"use of the quota per {WINDOW_S} s window (max of calls/RPM and tokens/TPM), from the experiment's start:")
    first = int((started - origin) // WINDOW_S)
    print("  " + " ".join(f"{100 * share:.0f}" for share in windows[first:]))
    plateau = _plateau(windows, dispatcher.times, origin, started)
    refused = sum(counts[2] for counts in stats["per_second"].values())
    calls = sum(counts[0] for counts in stats["per_second"].values())
    print(
        f"plateau: level {100 * plateau.level:.1f}% (median window from the first shard's start to the drain), "
        f"reached after {plateau.reached_s:.0f} s, mean {100 * plateau.share:.1f}% over {plateau.windows} windows "
        f"to the drain at {plateau.drain_s:.0f} s; model calls answered {calls}, 429s {refused}; "
        f"deliveries nacked by the dispatcher (all workers busy) {dispatcher.times.refused}, "
        f"most workers busy at once {dispatcher.times.peak_busy}"
    )
    lost, doubled, lines = _reconcile(experiment_id, args.entries, agent_url)
    for line in lines:
        print(line)
    return Result(total, plateau.share, 1000 * refused / total, lost, doubled)


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _experiments_client() -> Any:
    import functions_framework

    return functions_framework.create_app(
        target="experiments", source=str(ROOT / "functions/experiments/main.py")
    ).test_client()


def _published_dataset(entries: int) -> str:
    from bench.datasets_app import published_datasets

    names, _ = published_datasets({entries}, HEADERS)
    return names[entries]


def _wait_finished(experiment_id: str, model_url: str) -> str:
    from shared.storage.clients import firestore_client

    document = firestore_client().collection("experiments").document(experiment_id)
    last_report = time.monotonic()
    while True:
        snapshot = document.get().to_dict() or {}
        if snapshot.get("status") in ("completed", "failed", "cancelled"):
            return str(snapshot["status"])
        if time.monotonic() - last_report > 30:
            last_report = time.monotonic()
            answer = requests.get(f"{model_url}/stats", timeout=30).json()
            stats, origin = answer["per_second"], answer["started"]
            now = int(time.time() - origin)
            recent = [stats.get(str(second), [0, 0, 0]) for second in range(now - 30, now)]
            print(
                f"  {time.strftime('%H:%M:%S')}: last 30 s {sum(c[0] for c in recent) / 30:.1f} calls/s, "
                f"{sum(c[2] for c in recent)} 429s; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        time.sleep(2)


def _windows(stats: dict[str, Any], rpm: int, tpm: int) -> list[float]:
    """Use of the quota in each WINDOW_S window since the stand-in started, as a share of it."""
    per_second = {int(second): counts for second, counts in stats["per_second"].items()}
    last = max(per_second, default=0)
    shares = []
    for start in range(0, last + 1, WINDOW_S):
        calls = sum(per_second.get(s, [0, 0, 0])[0] for s in range(start, start + WINDOW_S))
        tokens = sum(per_second.get(s, [0, 0, 0])[1] for s in range(start, start + WINDOW_S))
        per_minute = 60 / WINDOW_S
        shares.append(max(calls * per_minute / rpm if rpm else 0, tokens * per_minute / tpm if tpm else 0))
    return shares


@dataclass
class Plateau:
    level: float
    share: float
    reached_s: float
    drain_s: float
    windows: int


def _plateau(windows: list[float], times: ShardTimes, origin: float, started: float) -> Plateau:
    """See the module's docstring; times are seconds since the stand-in started (its windows')."""
    first_start = min(start for start, _, _ in times.runs) - origin
    last_start = max(start for start, _, _ in times.runs)
    drain = min((end for _, end, _ in times.runs if end > last_start), default=last_start) - origin
    inside = [
        share
        for index, share in enumerate(windows)
        if index * WINDOW_S >= first_start and (index + 1) * WINDOW_S <= drain
    ]
    level = statistics.median(inside) if inside else 0.0
    begin = next(
        (index for index, share in enumerate(windows) if index * WINDOW_S >= first_start and share >= 0.9 * level),
        0,
    )
    plateau = [share for index, share in enumerate(windows) if index >= begin and (index + 1) * WINDOW_S <= drain]
    return Plateau(
        level=level,
        share=statistics.fmean(plateau) if plateau else 0.0,
        reached_s=begin * WINDOW_S - (started - origin),
        drain_s=drain - (started - origin),
        windows=len(plateau),
    )


def _reconcile(experiment_id: str, entries: int, agent_url: str) -> tuple[int, int, list[str]]:
    """(lost, doubled, lines): see the module's docstring for what each counts."""
    from infra.local.test_agent import TestAgent, span_kind
    from shared.models import run_id
    from shared.storage.clients import firestore_client

    expected = {
        run_id(f"r{i:06d}", variant, repetition)
        for i in range(entries)
        for variant in VARIANTS
        for repetition in range(REPETITIONS)
    }
    runs = firestore_client().collection("experiments").document(experiment_id).collection("runs")
    stored = {snapshot.id: snapshot.get("status") for snapshot in runs.select(["status"]).stream()}
    succeeded = {run for run, status in stored.items() if status == "succeeded"}
    missing_runs = len(expected - succeeded)

    agent = TestAgent(agent_url, timeout=300)
    wanted = len(expected) * len(EVALUATORS)
    deadline, seen, settled_at = time.monotonic() + 180, -1, time.monotonic()
    while True:  # the workers flush spans and deliver evaluations after their shards end
        metrics = agent.evaluation_metrics()  # the stack is this bench's: only this experiment's
        if len(metrics) >= wanted or time.monotonic() > deadline or time.monotonic() - settled_at > 30:
            break
        if len(metrics) != seen:
            seen, settled_at = len(metrics), time.monotonic()
        time.sleep(5)
    spans = [
        span
        for span in agent.llmobs_span_events()
        if span_kind(span) == "llm" and span["tag_map"].get("experiment_id") == experiment_id
    ]
    calls = Counter(
        run_id(span["tag_map"]["entry_id"], span["tag_map"]["variant"], int(span["tag_map"]["repetition"]))
        for span in spans
        if span.get("status") != "error"
    )
    doubled_calls = sum(1 for count in calls.values() if count > 1)
    delivered = Counter((str(m.get("span_id")), m.get("label")) for m in metrics)
    doubled_evaluations = sum(1 for count in delivered.values() if count > 1)
    missing_evaluations = max(0, wanted - len(delivered))
    lines = [
        f"runs: {len(expected)} expected, {len(stored)} stored, {len(succeeded)} succeeded, "
        f"{len(set(stored) - expected)} unexpected; missing or failed {missing_runs}",
        f"model calls: {len(spans)} llm spans at the test agent, {sum(calls.values())} without error for "
        f"{len(calls)} run ids; run ids called successfully more than once {doubled_calls}",
        f"evaluations: {wanted} expected, {len(delivered)} distinct (span, label) at the test agent, "
        f"{sum(delivered.values())} received; missing {missing_evaluations}, delivered more than once "
        f"{doubled_evaluations}",
    ]
    return missing_runs + missing_evaluations, doubled_calls + doubled_evaluations, lines


if __name__ == "__main__":
    main()
