"""Experiment throughput: our runner against pydantic_evals and ddtrace's experiments, one model.

N dataset entries, a simulated Gemini of fixed latency (`tests.fakes.gemini_server` in its own
process, so it does not share our GIL), and for each concurrency c, in the same process run:

- `ours`: the experiment runner (ExperimentCommands.start, then the shard run inline through
  experiments-worker's code, `ShardWorker.run_inline`, in one shard of every run), one
  `gemini-2.5-flash` variant, evaluators vote_count_exact and vote_count_accuracy. The wall time
  includes persisting every run to Firestore and delivering every evaluation to Datadog's test
  agent; afterwards every run document is counted, and every run must carry a span id whose llm
  span reached the test agent.
- `pydantic_evals`: `Dataset.evaluate(task, max_concurrency=c)` with an async task making the same
  model call (`GeminiModel.extract_async`) and the same two evaluators.
- `ddtrace`: `LLMObs.experiment(..., task=<async task>).run(jobs=c)` with the same call and
  evaluators. ddtrace's experiments talk to Datadog's REST API (projects, datasets, experiments,
  experiment events), which the test agent does not emulate: this bench serves those few
  endpoints itself (`_ExperimentsApiStandIn`, a minimal in-process HTTP server answering what
  ddtrace 4.16 reads back) and points ddtrace's experiments client at it; its spans still go to
  the test agent like ours.

Ideal wall time is N x latency / c. `bare` is the ceiling, not a peer: it only posts the request
and reads the answer. CPU per run is measured apart from wall time (wall time on a shared or
2-core machine also pays for the emulators' CPU, which production does not have):

- the runner's own process: this bench process (every runner runs in it, one after another),
  user + system CPU of all its threads (`getrusage(RUSAGE_SELF)`) over that runner's window: its
  timed run, then a flush of ddtrace's buffered spans (so a runner's tracing is charged to it,
  not to the next). ddtrace's row excludes the CPU of this bench's stand-in of Datadog's REST API
  (measured per request thread and shown apart: production has no such server in-process).
- every helper process by its process group, from /proc: Firestore emulator (Java), fake-gcs-server,
  the test agent and the model stand-in, over the same window. The bench starts no Pub/Sub
  emulator: shards run inline, their messages are held.

 Firestore and Cloud Storage emulators and the test agent start
on free ports. A concurrency of 1 uses fewer entries (`--records-c1`, default 100) to keep the run
short; the output says so.

    python -m bench.experiment_throughput [--records 1000] [--concurrency 1,8,64] [--latency-ms 200]
        [--runners ours,pydantic_evals,ddtrace,bare] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.datasets_app import published_datasets
from bench.machine import describe_machine
from infra.local.emulators import ensure_bucket, free_ports, start_firestore, start_gcs, start_test_agent

API_KEY = "bench-key"
HEADERS = {"X-API-Key": API_KEY}
MODEL = "gemini-2.5-flash"
EVALUATORS = ("vote_count_exact", "vote_count_accuracy")
PROJECT, BUCKET = "vote-extractor-bench", "vote-extractor-images"


# The helper processes whose CPU is reported apart, in the order of the table's columns.
SERVICES = ("firestore", "gcs", "agent", "model", "dd_api")
SERVICE_TITLES = {
    "firestore": "Firestore emulator (Java)",
    "gcs": "fake-gcs-server",
    "agent": "Datadog test agent",
    "model": "model stand-in (tests.fakes.gemini_server)",
    "dd_api": "stand-in of Datadog's experiments REST API (threads of this process; ddtrace's row only)",
}


@dataclass(frozen=True)
class Row:
    runner: str
    concurrency: int
    records: int
    wall_s: float
    ideal_s: float
    check: str
    cpu_s: float = 0.0  # the runner's own process, all threads, over the runner's window
    services_cpu_s: tuple[float, ...] = ()  # SERVICES' CPU over the same window

    @property
    def share_of_ideal(self) -> float:
        return self.ideal_s / self.wall_s

    def per_run_ms(self, cpu_s: float) -> float:
        return 1000 * cpu_s / self.records


class CpuMeter:
    """CPU seconds (user + system, all threads) of this process and of each helper process group."""

    def __init__(self, groups: dict[str, int]) -> None:
        self._groups = groups  # service name -> process group id (each helper leads its own group)
        self._ticks = os.sysconf("SC_CLK_TCK")
        self.in_process_s = {"dd_api": 0.0}  # CPU spent in this process on a helper's behalf
        self._lock = threading.Lock()

    def add_in_process(self, service: str, seconds: float) -> None:
        with self._lock:
            self.in_process_s[service] += seconds

    def sample(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        sample = {"self": usage.ru_utime + usage.ru_stime, **self.in_process_s}
        for name, pgid in self._groups.items():
            sample[name] = self._group_cpu_s(pgid)
        return sample

    def _group_cpu_s(self, pgid: int) -> float:
        ticks = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid pgrp ... utime stime cutime cstime": comm may hold spaces.
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid:
                ticks += sum(int(value) for value in fields[11:15])  # own + reaped children's
        return ticks / self._ticks


class _RunnerWindow:
    """The CPU used during a runner's timed run and the flush of its buffered spans (not its check),
    per process: `self` (the runner's own process, less what it spent on in-process helpers) and
    each of SERVICES."""

    def __init__(self, meter: CpuMeter) -> None:
        self._meter = meter
        self.used: dict[str, float] = {}
        self.collecting_s = 0.0  # wall time inside garbage collections (the GIL is held: CPU)
        self._collection_started = 0.0

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collection_started = time.perf_counter()
        else:
            self.collecting_s += time.perf_counter() - self._collection_started

    def __enter__(self) -> _RunnerWindow:
        gc.callbacks.append(self._on_collection)
        self._before = self._meter.sample()
        return self

    def __exit__(self, *exc: object) -> None:
        from ddtrace.llmobs import LLMObs

        LLMObs.flush()  # a runner's spans are encoded and sent on its own account
        gc.callbacks.remove(self._on_collection)
        after = self._meter.sample()
        self.used = {name: value - self._before[name] for name, value in after.items()}
        self.used["self"] -= sum(self.used[name] for name in self._meter.in_process_s)


DEFAULT_GC_THRESHOLDS = gc.get_threshold()


def main() -> None:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--records-c1", type=int, default=100, help="Entries at concurrency 1 (0: --records).")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--runners", default="ours,pydantic_evals,ddtrace,bare")
    parser.add_argument("--rounds", type=int, default=1, help="Repeat every concurrency, runners interleaved.")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    runners = args.runners.split(",")

    firestore_port, gcs_port, agent_port, otlp_http, otlp_grpc, gemini_port = free_ports(6)
    logs = Path(tempfile.mkdtemp(prefix="bench-experiments-"))
    os.environ.update(
        {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{gcs_port}",
            "GCP_PROJECT": PROJECT,
            "IMAGES_BUCKET": BUCKET,
            "API_KEYS": API_KEY,
            "GEMINI_API_KEY": "bench-gemini-key",
            "GEMINI_BASE_URL": f"http://127.0.0.1:{gemini_port}",
            "LLMOBS_ENABLED": "true",
            "DD_TRACE_AGENT_URL": f"http://127.0.0.1:{agent_port}",
            "DD_APM_TRACING_ENABLED": "false",
        }
    )
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        groups: dict[str, int] = {}
        for name, process in (
            ("firestore", start_firestore(firestore_port, logs)),
            ("gcs", start_gcs(gcs_port, logs)),
            ("agent", start_test_agent(agent_port, logs, otlp_http_port=otlp_http, otlp_grpc_port=otlp_grpc)),
        ):
            stack.callback(process.stop)
            groups[name] = process.pgid
        groups["model"] = stack.enter_context(_gemini_server(gemini_port, args.latency_ms, logs))
        ensure_bucket(f"http://127.0.0.1:{gcs_port}", PROJECT, BUCKET)
        meter = CpuMeter(groups)
        rows = run(args, concurrencies, runners, agent_url=f"http://127.0.0.1:{agent_port}", meter=meter)
    load_after = os.getloadavg()

    print(describe_machine())
    print(
        "load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
            *load_before, *load_after
        )
    )
    print(
        f"simulated model: tests.fakes.gemini_server in its own process, {args.latency_ms:g} ms per call; "
        "Firestore emulator + fake-gcs-server + Datadog test agent; ddtrace experiments against this "
        "bench's local stand-in of Datadog's experiments REST API"
    )
    if args.records_c1 and 1 in concurrencies and args.records_c1 != args.records:
        print(f"concurrency 1 runs {args.records_c1} entries (not {args.records}) to keep the run short")
    print(
        "bare is the ceiling, not a peer: the same HTTP request from a plain aiohttp loop, nothing parsed, "
        "traced, evaluated or stored"
    )
    print(
        "cpu ms/run: user + system CPU (all threads) per run; 'runner' is the runner's own process (this bench "
        "process over the runner's window: its run, then a flush of buffered spans), the rest are the helpers, "
        "measured apart by process group over the same window:"
    )
    for name in SERVICES:
        print(f"  {name:9s} {SERVICE_TITLES[name]}")
    print(
        f"{'runner':15s} {'conc':>5s} {'N':>6s} {'wall s':>8s} {'ideal s':>8s} {'% ideal':>8s} "
        f"{'runner':>7s} " + " ".join(f"{name:>9s}" for name in SERVICES) + "  check"
    )
    for row in rows:
        print(
            f"{row.runner:15s} {row.concurrency:5d} {row.records:6d} {row.wall_s:8.2f} {row.ideal_s:8.2f} "
            f"{100 * row.share_of_ideal:7.1f}% {row.per_run_ms(row.cpu_s):7.2f} "
            + " ".join(f"{row.per_run_ms(value):9.2f}" for value in row.services_cpu_s)
            + f"  {row.check}"
        )


@contextlib.contextmanager
def _gemini_server(port: int, latency_ms: float, logs: Path) -> Iterator[int]:
    """The model stand-in in its own process group; yields the group id."""
    log = (logs / "gemini.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.gemini_server", "--port", str(port), "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if "listening" not in line:
            raise RuntimeError(f"the fake Gemini server did not start: {line!r} (see {logs / 'gemini.log'})")
        yield process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


# --------------------------------------------------------------------------------------------
# The data: one stored image, N entries referencing it by gs:// URI, published.


# --------------------------------------------------------------------------------------------
# The three runners.


def run(
    args: argparse.Namespace, concurrencies: list[int], runners: list[str], *, agent_url: str, meter: CpuMeter
) -> list[Row]:
    from shared.config import get_settings
    from shared.storage.clients import storage_client
    from shared.storage.images import GcsImageStore
    from shared.wiring.experiments_worker import shard_worker

    sizes = {_records_for(args, c) for c in concurrencies}
    names, image_uri = published_datasets(sizes, HEADERS)
    worker = shard_worker()  # enables LLM Observability (ddtrace) once
    settings = get_settings()
    image = GcsImageStore(storage_client(), settings.images_bucket).get(image_uri)
    stand_in = _ExperimentsApiStandIn(meter).start()
    _point_ddtrace_experiments_at(stand_in.url)
    latency_s = args.latency_ms / 1000
    rows: list[Row] = []
    try:
        _warm_up(image)
        for _ in range(args.rounds):
            for c in concurrencies:
                n = _records_for(args, c)
                for name in runners:
                    # Every runner starts from the process's ordinary collector state: ours freezes
                    # the loaded heap and enlarges the young generation in its worker (as a
                    # deployed instance does once); the peers would not, so both are undone before
                    # each window.
                    gc.unfreeze()
                    gc.set_threshold(*DEFAULT_GC_THRESHOLDS)
                    window = _RunnerWindow(meter)
                    if name == "ours":
                        wall, check = _ours(worker, names[n], c, agent_url, window)
                    elif name == "pydantic_evals":
                        wall, check = _pydantic_evals(image, n, c, window)
                    elif name == "ddtrace":
                        wall, check = _ddtrace(image, n, c, stand_in, window)
                    else:
                        wall, check = _bare(image, n, c, window)
                    cpu = window.used
                    collecting = window.collecting_s
                    rows.append(
                        Row(name, c, n, wall, n * latency_s / c, check, cpu["self"], tuple(cpu[s] for s in SERVICES))
                    )
                    row = rows[-1]
                    print(
                        f"  {name} c={c} N={n}: {row.wall_s:.2f} s, {100 * row.share_of_ideal:.1f}% of ideal, "
                        f"{row.per_run_ms(row.cpu_s):.2f} ms CPU per run in the runner's process, "
                        f"{row.per_run_ms(collecting):.2f} ms of it in garbage collection",
                        flush=True,
                    )
    finally:
        stand_in.stop()
    return rows


def _records_for(args: argparse.Namespace, concurrency: int) -> int:
    return args.records_c1 if concurrency == 1 and args.records_c1 else args.records


def _model() -> Any:
    from shared.config import get_settings
    from shared.llm import get_model_client

    return get_model_client(MODEL, get_settings())


def _request(image: bytes) -> Any:
    from shared.llm import ModelRequest
    from shared.prompts import builtin_prompt

    return ModelRequest(image=image, content_type="image/png", prompt=builtin_prompt("prompt_a"))


def _warm_up(image: bytes) -> None:
    """One call of each path first, so imports and connections are not charged to the first runner
    (the summary's numpy and scipy included: a worker instance imports them once, not per shard)."""
    import scipy.stats  # noqa: F401  (the summary's; it loads numpy too)

    model, request = _model(), _request(image)

    async def calls() -> None:
        await asyncio.gather(*(model.extract_async(request) for _ in range(8)))

    asyncio.run(calls())


def _our_evaluations(output: Any, expected: Any) -> dict[str, Any]:
    """Our two evaluators on one output (pydantic_evals and ddtrace call the same code)."""
    from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators

    evaluators = _our_evaluations.__dict__.setdefault("evaluators", [create_evaluator(n) for n in EVALUATORS])
    results = run_evaluators(evaluators, EvaluatorContext(output=output, expected=expected))
    return {result.label: result.value for result in results}


class _HeldMessages:
    """A publisher that keeps the shard messages: the bench runs the shard itself, inline, through
    the worker's code (what Pub/Sub's delivery would call), so only the runner is timed."""

    def publish(self, messages: Any) -> list[bool]:
        return [True] * len(messages)


def _ours(worker: Any, dataset: str, concurrency: int, agent_url: str, window: _RunnerWindow) -> tuple[float, str]:
    from infra.local.test_agent import TestAgent
    from shared.config import get_settings
    from shared.experiments.commands import ExperimentCommands
    from shared.experiments.plan import ExperimentRequest
    from shared.storage.clients import firestore_client
    from shared.storage.datasets import FirestoreDatasetRepository
    from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox
    from shared.storage.experiments import FirestoreExperimentRepository
    from shared.storage.shards import FirestoreShardRepository
    from shared.wiring.experiments import experiment_completion
    from shared.wiring.form_types import form_type_registry
    from shared.wiring.prompts import prompt_registry

    agent = TestAgent(agent_url, timeout=60)
    agent.clear()
    request = ExperimentRequest.model_validate(
        {
            "name": f"throughput c={concurrency}",
            "dataset": {"name": dataset, "version": "v1"},
            "variants": [{"name": "flash", "model": MODEL}],
            "evaluators": list(EVALUATORS),
            "concurrency": concurrency,
        }
    )
    client = firestore_client()
    experiments = FirestoreExperimentRepository(client)
    service = ExperimentCommands(
        settings=get_settings().model_copy(update={"shard_size": 100_000}),  # one shard, as one runner call
        experiments=experiments,
        datasets=FirestoreDatasetRepository(client),
        shards=FirestoreShardRepository(client),
        publisher=_HeldMessages(),
        completion=experiment_completion(),
        prompts=prompt_registry(),
        form_types=form_type_registry(),
    )
    experiment = service.start(request, created_by="bench")
    with window:
        started = time.perf_counter()
        finished = worker.run_inline(experiment.experiment_id)
        wall = time.perf_counter() - started

    runs = list(experiments.runs(experiment.experiment_id))
    total = experiment.progress.total
    succeeded = sum(run.status == "succeeded" for run in runs)
    entries = FirestoreEvaluationOutbox(client).entries_starting(f"runs~{experiment.experiment_id}~")
    staged = sum(len(entry.submissions) for entry in entries)
    delivered = sum(len(entry.submissions) - len(entry.undelivered()) for entry in entries)
    span_ids = {run.span_id for run in runs if run.span_id}
    llm_spans = agent.wait_for(lambda: _llm_span_ids(agent, span_ids), timeout=15)
    latencies = sorted(run.latency_ms for run in runs) or [0.0]
    check = (
        f"{finished.status}; runs stored {len(runs)}/{total}, succeeded {succeeded}, with span id {len(span_ids)}, "
        f"llm spans at agent {len(llm_spans or ())}, evaluations delivered {delivered}/{staged}; "
        f"run latency p50 {latencies[len(latencies) // 2]:.0f} ms"
    )
    return wall, check


def _bare(image: bytes, records: int, concurrency: int, window: _RunnerWindow) -> tuple[float, str]:
    """The machine's ceiling: the same HTTP request from a plain asyncio loop with aiohttp, and
    nothing else (no parsing into models, no tracing, no evaluation, no storage)."""
    import aiohttp

    from shared.llm.gemini.rest import rest_body, rest_endpoint

    model = _model()
    endpoint = rest_endpoint(model.client_options, MODEL)
    body = rest_body(_request(image), {})

    async def main() -> int:
        gate = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession() as session:

            async def call() -> bool:
                async with gate, session.post(endpoint.url, data=body, headers=dict(endpoint.headers)) as response:
                    return response.status == 200 and bool(json.loads(await response.read()))

            return sum(await asyncio.gather(*(call() for _ in range(records))))

    with window:
        started = time.perf_counter()
        ok = asyncio.run(main())
        wall = time.perf_counter() - started
    return wall, f"answers {ok}/{records} (calibration: the ceiling on this machine)"


def _llm_span_ids(agent: Any, wanted: set[str]) -> set[str] | None:
    found = {span["span_id"] for span in agent.llmobs_span_events() if span.get("span_id") in wanted}
    return found if found == wanted else None


def _pydantic_evals(image: bytes, records: int, concurrency: int, window: _RunnerWindow) -> tuple[float, str]:
    from pydantic_evals import Case, Dataset
    from pydantic_evals.evaluators import Evaluator, EvaluatorContext

    from shared.models import VoteExtraction
    from tests.fakes.gemini_server import SAMPLE_EXTRACTION

    expected = VoteExtraction.model_validate(SAMPLE_EXTRACTION)
    model, request = _model(), _request(image)

    @dataclass
    class VoteCounts(Evaluator[str, VoteExtraction, None]):
        def evaluate(self, ctx: EvaluatorContext[str, VoteExtraction, None]) -> dict[str, Any]:
            return _our_evaluations(ctx.output, ctx.expected_output)

    async def task(entry_id: str) -> VoteExtraction:
        return (await model.extract_async(request)).extraction

    dataset = Dataset[str, VoteExtraction, None](
        name=f"throughput-c{concurrency}",
        cases=[Case(name=f"r{i:06d}", inputs=f"r{i:06d}", expected_output=expected) for i in range(records)],
        evaluators=[VoteCounts()],
    )
    with window:
        started = time.perf_counter()
        report = asyncio.run(dataset.evaluate(task, max_concurrency=concurrency, progress=False))
        wall = time.perf_counter() - started
    return wall, f"cases {len(report.cases)}/{records}, failures {len(report.failures)}"


def _ddtrace(
    image: bytes, records: int, concurrency: int, stand_in: _ExperimentsApiStandIn, window: _RunnerWindow
) -> tuple[float, str]:
    from ddtrace.llmobs import LLMObs

    from tests.fakes.gemini_server import SAMPLE_EXTRACTION

    model, request = _model(), _request(image)
    from shared.models import VoteExtraction

    expected = VoteExtraction.model_validate(SAMPLE_EXTRACTION)

    async def extract_votes(input_data: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        return (await model.extract_async(request)).extraction.model_dump(mode="json")

    def vote_count_exact(input_data: Any, output_data: Any, expected_output: Any) -> Any:
        return _our_evaluations(VoteExtraction.model_validate(output_data), expected)["vote_count_exact"]

    def vote_count_accuracy(input_data: Any, output_data: Any, expected_output: Any) -> Any:
        return _our_evaluations(VoteExtraction.model_validate(output_data), expected)["vote_count_accuracy"]

    dataset = LLMObs.create_dataset(
        dataset_name=f"bench_{uuid.uuid4().hex[:8]}",
        records=[
            {"input_data": {"entry_id": f"r{i:06d}"}, "expected_output": SAMPLE_EXTRACTION} for i in range(records)
        ],
    )
    experiment = LLMObs.experiment(
        name=f"throughput-c{concurrency}",
        task=extract_votes,
        dataset=dataset,
        evaluators=[vote_count_exact, vote_count_accuracy],
    )
    stand_in.metrics_received = 0
    with window:
        started = time.perf_counter()
        result = experiment.run(jobs=concurrency)
        wall = time.perf_counter() - started
    rows = result["rows"]
    errors = sum(bool((row.get("error") or {}).get("message")) for row in rows)
    return wall, f"rows {len(rows)}/{records}, task errors {errors}, metrics posted {stand_in.metrics_received}"


# --------------------------------------------------------------------------------------------
# ddtrace's experiments offline: the few Datadog REST endpoints it calls, answered locally.


def _point_ddtrace_experiments_at(url: str) -> None:
    # DD_LLMOBS_OVERRIDE_ORIGIN would move the span and evaluation writers too (away from the
    # test agent), so only the experiments client is replaced, built as ddtrace builds it.
    from ddtrace.llmobs import LLMObs
    from ddtrace.llmobs._experiment import Project
    from ddtrace.llmobs._writer import LLMObsExperimentsClient

    LLMObs._instance._dne_client = LLMObsExperimentsClient(
        interval=1.0,
        timeout=5.0,
        is_agentless=True,
        _api_key="offline",
        _app_key="offline",
        _override_url=url,
        _default_project=Project(name="vote-extractor-bench", _id=""),
    )


class _ExperimentsApiStandIn:
    """Projects, datasets (create, batch update), experiments (create, update, events), in memory."""

    def __init__(self, meter: CpuMeter) -> None:
        self.metrics_received = 0
        routes: list[tuple[str, re.Pattern[str], Callable[[dict[str, Any], re.Match[str]], Any]]] = [
            ("POST", re.compile(r"^/api/unstable/llm-obs/v1/projects$"), lambda b, m: {"data": {"id": "project-1"}}),
            (
                "POST",
                re.compile(r"^/api/unstable/llm-obs/v1/[^/]+/datasets$"),
                lambda b, m: {"data": {"id": uuid.uuid4().hex, "attributes": {"current_version": 0}}},
            ),
            (
                "POST",
                re.compile(r"^/api/v2/llm-obs/v1/[^/]+/datasets/[^/]+/batch_update$"),
                lambda b, m: {
                    "data": [
                        {"id": record["id"], "attributes": {"version": 1}}
                        for record in b["data"]["attributes"]["insert_records"]
                    ]
                },
            ),
            (
                "POST",
                re.compile(r"^/api/unstable/llm-obs/v1/experiments$"),
                lambda b, m: {
                    "data": {"id": uuid.uuid4().hex, "attributes": {"name": b["data"]["attributes"]["name"]}}
                },
            ),
            ("PATCH", re.compile(r"^/api/unstable/llm-obs/v1/experiments/[^/]+$"), lambda b, m: {"data": {}}),
            ("POST", re.compile(r"^/api/unstable/llm-obs/v1/experiments/[^/]+/events$"), self._events),
        ]

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                started = time.thread_time()
                try:
                    self._reply()
                finally:
                    meter.add_in_process("dd_api", time.thread_time() - started)

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                for method, pattern, reply in routes:
                    match = pattern.match(self.path)
                    if method == self.command and match:
                        encoded, status = json.dumps(reply(body, match)).encode(), 200
                        break
                else:
                    encoded, status = json.dumps({"errors": [f"not served: {self.command} {self.path}"]}).encode(), 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            do_POST = do_PATCH = do_GET = _answer  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                pass  # quiet: thousands of requests

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="dd-experiments-stand-in", daemon=True)

    def _events(self, body: dict[str, Any], match: re.Match[str]) -> dict[str, Any]:
        self.metrics_received += len(body["data"]["attributes"].get("metrics", []))
        return {}

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> _ExperimentsApiStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":
    main()
