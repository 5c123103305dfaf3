"""What POST /extract adds to the model's own time: the client's wait minus the model's, per request.

    .venv/bin/python -m bench.extract_overhead [--model-ms 500] [--requests-c1 200] [--requests-c16 400]
                                               [--cross-check off,on] [--concurrency 1,16] [--profile] [--keep DIR]

It starts what it needs on free ports (so it runs beside `./deploy.sh local`): the Firestore and
Cloud Storage emulators, Datadog's test agent, the Gemini stand-in (bench/gemini_standin.py)
answering after a FIXED `--model-ms` and noting how long it held each request, and one gateway
with an API key whose default model is the stand-in (Gemini configured). For each cross check
mode (CROSS_CHECK=off, then on: the gateway restarts; on, every extraction is read a second time
by tesseract beside Gemini, what `choose_second_reader` picks with tesseract installed) it warms
up, then for each concurrency sends its requests: every one a different generated form
(`shared.synthetic.generate_form`), so nothing is served from a previous request's image.

Overhead of one request = the client's wall time (request sent to answer read) minus the time the
stand-in held that request (matched on the image's sha256; exactly the model's time as the gateway
could see it at best). Reported: p50 / p95 / p99 of it, the requests per second, and the load
average. `--profile` then samples the gateway with py-spy (waiting threads too) during 60 more
requests at concurrency 1, cross check off (not in the table: sampling slows the gateway), and
prints where a request's thread spends its time, step by step inside `ExtractionService.extract`.
With the cross check on, the table also gives the second reading's own time: the answer waits for
the slower of it and the model. `--baseline` first runs the cross check off with
EVALUATION_DELIVERY=in_request (the answer waits for Datadog's intake and the outbox mark): before
and after in one run.

The last line, for scripts: `extract overhead: p50 N ms, p95 N ms, p99 N ms (concurrency 1, cross check off)`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.load_mixed import ROOT, profile_gateway, start_gemini_standin
from bench.machine import describe_machine
from infra.local.emulators import (
    EmulatorProcess,
    LocalStack,
    StackPorts,
    ensure_bucket,
    free_ports,
    start_firestore,
    start_gcs,
    start_test_agent,
    stop_all,
)
from shared.synthetic import generate_form
from tests.integration.processes import start_gateway  # the gateway gets os.environ as set in own_stack

API_KEY = "overhead-key"
PROJECT = "vote-extractor-overhead"
WARMUP_REQUESTS = 8
FIRST_SEED = 500_000
PROFILED_REQUESTS = 60
PROFILE_RATE = 250  # samples a second: a request's overhead is tens of milliseconds


@dataclass
class Stack:
    """The processes this benchmark started; the gateway is restarted per cross check mode."""

    log_dir: Path
    timings: Path
    port: int
    processes: list[EmulatorProcess] = field(default_factory=list)
    gateway: EmulatorProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restart_gateway(self, cross_check: str, delivery: str) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        overrides = {"CROSS_CHECK": cross_check, "EVALUATION_DELIVERY": delivery}
        self.gateway, _ = start_gateway(self.log_dir, port=self.port, **overrides)


@contextlib.contextmanager
def own_stack(scratch: Path, model_ms: float) -> Iterator[Stack]:
    """Emulators, test agent, the fixed-delay stand-in and (see `restart_gateway`) the gateway."""
    firestore_port, gcs_port, agent_port, gemini_port, gateway_port = free_ports(5)
    local = LocalStack(ports=StackPorts(firestore=firestore_port, gcs=gcs_port, dd_agent=agent_port), project=PROJECT)
    os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    os.environ.update(
        {k: v for k, v in local.env().items() if k != "PUBSUB_EMULATOR_HOST"}
        | {
            "API_KEYS": API_KEY,
            "GEMINI_API_KEY": "overhead-bench",
            "GEMINI_BASE_URL": f"http://127.0.0.1:{gemini_port}",
            "DEFAULT_MODEL": "",
            "CROSS_CHECK_SAMPLE_RATE": "1",
            "REVIEW_RANDOM_SAMPLE_RATE": "0.02",
        }
    )
    stack = Stack(scratch / "logs", scratch / "standin-timings.jsonl", gateway_port)
    try:
        stack.processes.append(start_firestore(firestore_port, stack.log_dir))
        stack.processes.append(start_gcs(gcs_port, stack.log_dir))
        otlp_http, otlp_grpc = free_ports(2)
        stack.processes.append(
            start_test_agent(agent_port, stack.log_dir, otlp_http_port=otlp_http, otlp_grpc_port=otlp_grpc)
        )
        options = ("--fixed-ms", str(model_ms), "--timings", str(stack.timings))
        stack.processes.append(start_gemini_standin(gemini_port, stack.log_dir, *options))
        ensure_bucket(local.storage_url, local.project, local.bucket)
        yield stack
    finally:
        if stack.gateway is not None:
            stack.gateway.stop()
        stop_all(stack.processes)


# -- one phase ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    cross_check: str
    delivery: str
    concurrency: int
    overheads_ms: list[float]
    model_ms: list[float]
    unmatched: int
    errors: list[str]
    second_reader_ms: list[float]  # the cross check's reading (tesseract), when it ran
    seconds: float
    load: tuple[float, float, float]

    @property
    def throughput(self) -> float:
        return len(self.overheads_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, q: int) -> float:
        return percentile(self.overheads_ms, q)


def percentile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (nearest rank), 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


class Forms:
    """A different generated form for every request of the run (seeds never repeat)."""

    def __init__(self) -> None:
        self._next = FIRST_SEED

    def take(self, count: int) -> list[bytes]:
        images = [generate_form(seed).image for seed in range(self._next, self._next + count)]
        self._next += count
        return images


def extract_once(session: requests.Session, url: str, image: bytes) -> tuple[float, str, float | None]:
    """The client's wall time of one extraction (ms), an error ("" when 200) and the cross check's
    second reading's time (ms; None when it did not run)."""
    started = time.perf_counter()
    response = session.post(
        f"{url}/extract",
        headers={"X-API-Key": API_KEY},
        files={"image": ("form.png", image, "image/png")},
        timeout=120,
    )
    waited_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        return waited_ms, f"{response.status_code}: {response.text[:200]}", None
    body = response.json()
    if body.get("status") != "succeeded":
        return waited_ms, f"extraction failed: {body.get('error')}", None
    checks = [e for e in body.get("evaluations", []) if e["label"] == "cross_check"]
    second_ms = (checks[0].get("details") or {}).get("second_latency_ms") if checks else None
    return waited_ms, "", second_ms


@dataclass
class Sent:
    waits: dict[str, float] = field(default_factory=dict)  # by the image's sha256
    errors: list[str] = field(default_factory=list)
    second_reader_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0


def send(url: str, images: list[bytes], concurrency: int) -> Sent:
    """Every image extracted, `concurrency` at a time."""
    sent = Sent()
    local = threading.local()

    def one(image: bytes) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        waited_ms, error, second_ms = extract_once(session, url, image)
        if error:
            sent.errors.append(error)
            return
        sent.waits[hashlib.sha256(image).hexdigest()] = waited_ms
        if second_ms is not None:
            sent.second_reader_ms.append(second_ms)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, images))
    sent.seconds = time.perf_counter() - started
    return sent


def held_by_standin(timings: Path) -> dict[str, float]:
    """The milliseconds the stand-in held each image's request (the last, should one repeat)."""
    if not timings.exists():
        return {}
    held = {}
    for line in timings.read_text().splitlines():
        entry = json.loads(line)
        held[entry["sha256"]] = float(entry["ms"])
    return held


def run_phase(
    stack: Stack, forms: Forms, *, cross_check: str, delivery: str, concurrency: int, requests_n: int
) -> Phase:
    sent = send(stack.url, forms.take(requests_n), concurrency)
    held = held_by_standin(stack.timings)
    matched = {key: wait for key, wait in sent.waits.items() if key in held}
    return Phase(
        cross_check=cross_check,
        delivery=delivery,
        concurrency=concurrency,
        overheads_ms=[wait - held[key] for key, wait in matched.items()],
        model_ms=[held[key] for key in matched],
        unmatched=len(sent.waits) - len(matched),
        errors=sent.errors,
        second_reader_ms=sent.second_reader_ms,
        seconds=sent.seconds,
        load=os.getloadavg(),
    )


def warm_up(stack: Stack, forms: Forms) -> None:
    """The first requests pay imports, connections and caches; none of them is measured."""
    errors = send(stack.url, forms.take(WARMUP_REQUESTS), 1).errors
    if errors:
        raise RuntimeError(f"warm-up extractions failed: {errors[:3]}")


# -- the profile ------------------------------------------------------------------------------------


def _place(frame: str) -> str:
    """`function (path:line)` as `function (relative path)`: one name per function, not per line."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0].replace(str(ROOT) + "/", "")
    return f"{name} ({path.split('site-packages/')[-1]})"


def profile_summary(path: Path, *, requests_n: int, rate: int, top: int = 12) -> list[str]:
    """Where a request's thread spends its time: the samples of threads inside functions/ (the
    request threads, waiting included), by the step of `ExtractionService.extract` they are in
    (the frame just below it), and outside the reading by our frame nearest the leaf; each with its
    milliseconds per request (samples / requests / rate)."""
    if not path.exists() or not path.read_text().strip():
        return ["profile: py-spy wrote nothing (no permission to attach?)"]
    steps: collections.Counter[str] = collections.Counter()
    outside_reading: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        frames = [_place(frame) for frame in stack_text.split(";")]
        if not count_text.isdigit() or not any("(functions/" in frame for frame in frames):
            continue
        count = int(count_text)
        total += count
        at = next(
            (
                i
                for i, f in enumerate(frames)
                if f.startswith("ExtractionService.extract (shared/services/extraction.py")
            ),
            None,
        )
        step = frames[at + 1] if at is not None and at + 1 < len(frames) else "outside ExtractionService.extract"
        steps[step] += count
        if "run_blocking (shared/reading.py)" in frames:
            continue
        own = [f for f in frames if "(shared/" in f or "(functions/" in f]
        outside_reading[f"{own[-1]}  <- leaf {frames[-1]}"] += count
    if not total:
        return ["profile: no sample of a request thread"]
    per_request_ms = 1000 / rate / requests_n
    lines = [f"gateway profile (concurrency 1, cross check off): {total} samples of request threads, waiting included"]
    lines += ["  by step of ExtractionService.extract (run_blocking = the reading: the model's time and its spans):"]
    lines += [
        f"    {100 * n / total:5.1f}%  {n * per_request_ms:6.1f} ms  {step}" for step, n in steps.most_common(top)
    ]
    rest = sum(outside_reading.values())
    lines += [f"  outside the reading ({100 * rest / total:.1f}% of samples), by our frame nearest the leaf:"]
    lines += [
        f"    {100 * n / total:5.1f}%  {n * per_request_ms:6.1f} ms  {frame}"
        for frame, n in outside_reading.most_common(top)
    ]
    return lines


@contextlib.contextmanager
def profiling(stack: Stack, out: Path, enabled: bool) -> Iterator[None]:
    """py-spy on the gateway for as long as the block runs (stopped with SIGINT, which writes the profile)."""
    spy = profile_gateway(stack.gateway.popen.pid, 3600, out, rate=PROFILE_RATE) if enabled and stack.gateway else None
    if enabled and spy is None:
        print("profile: py-spy is not installed in this virtualenv", flush=True)
    try:
        time.sleep(1.0 if spy else 0.0)  # py-spy attaches before the first request
        yield
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=60)


# -- the report -------------------------------------------------------------------------------------


def table(phases: list[Phase], model_ms: float) -> list[str]:
    lines = [
        f"overhead = client wait - the stand-in's time for that request (fixed delay {model_ms:.0f} ms); ms",
        "cross check  evaluations  concurrency  requests  errors   p50   p95   p99  model p50  req/s  load (1 min)",
    ]
    for phase in phases:
        model_p50 = statistics.median(phase.model_ms) if phase.model_ms else 0
        lines.append(
            f"{phase.cross_check:<12} {phase.delivery:<12} {phase.concurrency:>11} {len(phase.overheads_ms):>9} "
            f"{len(phase.errors):>7} {phase.percentile(50):>5.0f} {phase.percentile(95):>5.0f} "
            f"{phase.percentile(99):>5.0f} {model_p50:>10.0f} {phase.throughput:>6.1f} {phase.load[0]:>8.2f}"
        )
        if phase.second_reader_ms:
            second = phase.second_reader_ms
            lines.append(
                f"  its second reading (tesseract, beside the model): p50 {percentile(second, 50):.0f} ms, "
                f"p95 {percentile(second, 95):.0f} ms, p99 {percentile(second, 99):.0f} ms"
            )
        if phase.unmatched:
            lines.append(f"  {phase.unmatched} requests had no stand-in timing (left out)")
        for error in sorted(set(phase.errors))[:3]:
            lines.append(f"  error: {error}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-ms", type=float, default=500.0, help="the stand-in's fixed delay (default 500)")
    parser.add_argument("--requests-c1", type=int, default=200, help="requests at concurrency 1 (default 200)")
    parser.add_argument("--requests-c16", type=int, default=400, help="requests at concurrency 16 (default 400)")
    parser.add_argument("--concurrency", default="1,16", help="concurrencies, each 1 or 16 (default 1,16)")
    parser.add_argument("--cross-check", default="off,on", help="cross check modes in order (default off,on)")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway at concurrency 1, cross check off")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first, cross check off, EVALUATION_DELIVERY=in_request (the answer waits for Datadog): the before",
    )
    parser.add_argument("--keep", type=Path, help="copy the logs, stand-in timings and profile to this folder")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    modes = [mode.strip() for mode in args.cross_check.split(",")]
    counts = {1: args.requests_c1, 16: args.requests_c16}

    load_before = os.getloadavg()
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="extract-overhead-") as scratch_name:
        scratch = Path(scratch_name)
        profile_path = scratch / "profile.txt"
        with own_stack(scratch, args.model_ms) as stack:
            forms = Forms()
            runs = [("off", "in_request")] if args.baseline else []
            for mode, delivery in runs + [(mode, "background") for mode in modes]:
                stack.restart_gateway(mode, delivery)
                warm_up(stack, forms)
                for concurrency in concurrencies:
                    requests_n = counts.get(concurrency, args.requests_c16)
                    print(f"cross check {mode}, {delivery}, concurrency {concurrency}: {requests_n}", flush=True)
                    phases.append(
                        run_phase(
                            stack,
                            forms,
                            cross_check=mode,
                            delivery=delivery,
                            concurrency=concurrency,
                            requests_n=requests_n,
                        )
                    )
                if args.profile and (mode, delivery) == ("off", "background"):
                    # A phase of its own: py-spy's sampling slows the gateway, so it is not in the table.
                    print(f"profiling: cross check off, concurrency 1: {PROFILED_REQUESTS}", flush=True)
                    with profiling(stack, profile_path, True):
                        run_phase(
                            stack,
                            forms,
                            cross_check=mode,
                            delivery=delivery,
                            concurrency=1,
                            requests_n=PROFILED_REQUESTS,
                        )
        profile = profile_summary(profile_path, requests_n=PROFILED_REQUESTS, rate=PROFILE_RATE) if args.profile else []
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-r", f"{scratch}/.", str(args.keep)], check=False)

    print(describe_machine())
    print(f"load average (1, 5, 15 min) before {load_before}")
    print("one gateway process (werkzeug, threaded), Firestore and Cloud Storage emulators, Datadog test agent")
    print(*profile, sep="\n")
    print(*table(phases, args.model_ms), sep="\n")
    headline = next((p for p in phases if (p.concurrency, p.cross_check, p.delivery) == (1, "off", "background")), None)
    if headline is None:
        print("extract overhead: not measured (run concurrency 1 with the cross check off)")
        return 1
    print(
        f"extract overhead: p50 {headline.percentile(50):.0f} ms, p95 {headline.percentile(95):.0f} ms, "
        f"p99 {headline.percentile(99):.0f} ms (concurrency 1, cross check off)"
    )
    return 1 if any(phase.errors for phase in phases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
