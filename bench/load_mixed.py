"""Mixed load on the gateway with Locust, then a reconciliation of every write and evaluation.

    .venv/bin/python -m bench.load_mixed [--kill-gateway] [--stall-agent S] [--profile] [--steps 4,8,16,32,64]
                                         [--step-seconds 30] [--keep DIR]

It starts what it needs on free ports (so it runs beside `./deploy.sh local`): the Firestore and
Cloud Storage emulators, Datadog's test agent (keeping every request, not its default 200), the
Gemini stand-in (bench/gemini_standin.py, answers after 1-3 s) and one gateway process with the
product's defaults (Gemini configured, so the default model is the stand-in; the cross check on
for every extraction). Pub/Sub is not started: nothing in this traffic publishes.

Locust (headless, bench/locustfile.py) then steps through the user counts, each for
`--step-seconds`: extracts on the stand-in and on tesseract, feedback with replays, reads and
listings, review claims and decisions, dataset entry writes (see the locustfile's weights). With
`--kill-gateway` the gateway is killed with SIGKILL halfway through the step before last and
started again on the same port; writes that lost their answer are sent again with the same ids.
`--stall-agent S` pauses the test agent (SIGSTOP) for S seconds at that moment instead (or, with
`--kill-gateway`, around the kill): a stuck intake, longer than a request waits for its deliveries.

Afterwards the evaluation resend runs (what `./deploy.sh local --resend` runs), and the
reconciliation (bench/load_reconcile.py) counts every acknowledged write in Firestore and every
staged evaluation in what the test agent received. The last lines: the requests, the errors,
each endpoint's p99 and the reconciliation's verdicts. `--profile` samples the gateway with
py-spy during the last step and prints where its time goes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.load_reconcile import Stored, figures, reconcile
from bench.machine import describe_machine
from infra.local.emulators import (
    EmulatorProcess,
    LocalStack,
    StackPorts,
    ensure_bucket,
    free_ports,
    spawn,
    start_firestore,
    start_gcs,
    start_test_agent,
    stop_all,
)
from infra.local.test_agent import TestAgent
from shared.synthetic import generate_form
from tests.integration.processes import start_gateway  # the gateway gets os.environ as set in own_stack

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "load-key"
PROJECT = "vote-extractor-load"
ENTRY_VERSIONS = [("load-entries", f"v{n}") for n in range(1, 9)]
REVIEW_TARGET = ("load-reviewed", "v1")
SEED_EXTRACTIONS = 6


@dataclass
class Stack:
    """The processes this benchmark started, and where they answer."""

    url: str
    port: int
    agent_url: str
    log_dir: Path
    processes: list[EmulatorProcess] = field(default_factory=list)
    gateway: EmulatorProcess | None = None


def start_gemini_standin(port: int, log_dir: Path, *options: str) -> EmulatorProcess:
    """bench/gemini_standin.py on `port`; `options` are its own (e.g. `--fixed-ms 500`)."""
    command = [sys.executable, "-m", "bench.gemini_standin", "--port", str(port), *options]
    log_path = log_dir / "gemini.log"
    popen = spawn("Gemini stand-in", command, log_path=log_path, cwd=ROOT)
    process = EmulatorProcess("Gemini stand-in", popen, log_path, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return process
        if popen.poll() is not None or time.monotonic() > deadline:
            process.stop()
            raise RuntimeError(f"The Gemini stand-in did not start; see {log_path}")
        time.sleep(0.1)


@contextlib.contextmanager
def own_stack(scratch: Path) -> Iterator[Stack]:
    """Emulators, test agent, Gemini stand-in and gateway on free ports; all stopped on the way out."""
    firestore_port, gcs_port, agent_port, gemini_port, gateway_port = free_ports(5)
    stack = LocalStack(ports=StackPorts(firestore=firestore_port, gcs=gcs_port, dd_agent=agent_port), project=PROJECT)
    environment = {k: v for k, v in stack.env().items() if k != "PUBSUB_EMULATOR_HOST"}
    os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    os.environ.update(
        environment
        | {
            "API_KEYS": API_KEY,
            "GEMINI_API_KEY": "load-bench",
            "GEMINI_BASE_URL": f"http://127.0.0.1:{gemini_port}",
            "DEFAULT_MODEL": "",
            "CROSS_CHECK": "on",
            "CROSS_CHECK_SAMPLE_RATE": "1",
        }
    )
    log_dir = scratch / "logs"
    running = Stack(f"http://127.0.0.1:{gateway_port}", gateway_port, stack.dd_agent_url, log_dir)
    try:
        running.processes.append(start_firestore(firestore_port, log_dir))
        running.processes.append(start_gcs(gcs_port, log_dir))
        otlp_http, otlp_grpc = free_ports(2)
        running.processes.append(
            start_test_agent(agent_port, log_dir, otlp_http_port=otlp_http, otlp_grpc_port=otlp_grpc)
        )
        running.processes.append(start_gemini_standin(gemini_port, log_dir))
        ensure_bucket(stack.storage_url, stack.project, stack.bucket)
        running.gateway, _ = start_gateway(log_dir, port=gateway_port)
        yield running
    finally:
        if running.gateway is not None:
            running.gateway.stop()
        stop_all(running.processes)


# -- seeding --------------------------------------------------------------------------------------


def seed(url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Extractions to rate from the first second, and the draft versions the users write to."""
    headers = {"X-API-Key": API_KEY}
    for name, version in [*ENTRY_VERSIONS, REVIEW_TARGET]:
        body = {"name": name, "version": version}
        response = requests.post(f"{url}/datasets", json=body, headers=headers, timeout=60)
        response.raise_for_status()
    extractions, records = [], []
    for number in range(SEED_EXTRACTIONS):
        form = generate_form(8800 + number)
        response = requests.post(
            f"{url}/extract",
            headers=headers,
            files={"image": ("form.png", form.image, "image/png")},
            data={"model": "tesseract"},
            timeout=120,
        )
        response.raise_for_status()
        body = response.json()
        extractions.append({key: body[key] for key in ("extraction_id", "span_id", "trace_id", "image_uri")})
        records.append({"k": "seed", "what": "extraction", "id": body["extraction_id"]})
    return {"extractions": extractions, "entry_versions": ENTRY_VERSIONS, "review_target": REVIEW_TARGET}, records


# -- the load ---------------------------------------------------------------------------------------


@dataclass
class KillReport:
    """What happened around the load: the gateway's kill and restart, the CPU used per process."""

    killed_at: float = 0.0
    stalled_at: float = 0.0
    healthy_again_at: float = 0.0
    error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # process -> cores busy during the profile


def kill_and_restart(
    stack: Stack, at: float, report: KillReport, stop: threading.Event, *, kill: bool, stall_agent_s: float
) -> None:
    """At `at` (monotonic): with `stall_agent_s`, pause the test agent (SIGSTOP) that long, as a
    stuck intake; with `kill`, SIGKILL the gateway's process group (1 s into the stall, while
    requests wait on their deliveries) and start it again on its port."""
    if stop.wait(max(0.0, at - time.monotonic())):
        return
    assert stack.gateway is not None
    agent = next(p for p in stack.processes if p.name == "Datadog test agent")
    try:
        if stall_agent_s:
            os.killpg(agent.pgid, signal.SIGSTOP)
            report.stalled_at = time.time()
            time.sleep(min(1.0, stall_agent_s))
        if kill:
            os.killpg(stack.gateway.pgid, signal.SIGKILL)
            report.killed_at = time.time()
            stack.gateway.popen.wait(timeout=30)
        if stall_agent_s:
            time.sleep(max(0.0, report.stalled_at + stall_agent_s - time.time()))
            os.killpg(agent.pgid, signal.SIGCONT)
        if kill:
            stack.gateway, _ = start_gateway(stack.log_dir, port=stack.port)
            report.healthy_again_at = time.time()
    except Exception as error:  # reported with the results; the run goes on without a gateway
        report.error = repr(error)
    finally:
        with contextlib.suppress(OSError):
            os.killpg(agent.pgid, signal.SIGCONT)


def profile_gateway(pid: int, seconds: float, out: Path, *, rate: int = 50) -> subprocess.Popen[bytes] | None:
    """py-spy sampling every thread of the gateway, waiting ones too, for `seconds` (collapsed stacks)."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return None
    command = [
        str(py_spy),
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        str(rate),
        "-f",
        "raw",
        "-o",
        str(out),
    ]
    command += ["--nonblocking", "--idle", "--full-filenames"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def cpu_seconds(pgid: int, *, leader_only: bool = False) -> float:
    """CPU time (user + system, children that ended included) of a process group's live members."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or (leader_only and int(entry.name) != pgid):
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2 :].split()
            if leader_only or int(fields[2]) == pgid:
                total += sum(int(value) for value in fields[11:15])
    return total / tick


def cpu_by_process(groups: Mapping[str, tuple[int, bool]]) -> dict[str, float]:
    return {name: cpu_seconds(pgid, leader_only=leader_only) for name, (pgid, leader_only) in groups.items()}


def run_locust(stack: Stack, args: argparse.Namespace, scratch: Path, ledger: Path, seed_file: Path) -> KillReport:
    steps = [int(users) for users in args.steps.split(",")]
    env = os.environ | {
        "LOAD_LEDGER": str(ledger),
        "LOAD_SEED": str(seed_file),
        "LOAD_STEPS": args.steps,
        "LOAD_STEP_SECONDS": str(args.step_seconds),
        "LOAD_API_KEY": API_KEY,
        "LOAD_RETRY_DEADLINE_S": "120",
    }
    command = [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless"]
    command += ["--host", stack.url, "--stop-timeout", "150", "--only-summary", "--loglevel", "WARNING"]
    log_path = stack.log_dir / "locust.log"
    report, stop = KillReport(), threading.Event()
    started = time.monotonic()
    killer = None
    if args.kill_gateway or args.stall_agent:
        at = started + args.step_seconds * (len(steps) - 1.5)
        killer = threading.Thread(
            target=kill_and_restart,
            args=(stack, at, report, stop),
            kwargs={"kill": args.kill_gateway, "stall_agent_s": args.stall_agent},
            daemon=True,
        )
        killer.start()
    spy = None
    with log_path.open("wb") as log:
        locust = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            if args.profile and stack.gateway is not None:
                time.sleep(max(0.0, args.step_seconds * (len(steps) - 1) + 5 - (time.monotonic() - started)))
                window = args.step_seconds - 10
                groups = {p.name: (p.pgid, False) for p in stack.processes}
                groups |= {"gateway (+ tesseract)": (stack.gateway.pgid, False), "locust": (locust.pid, True)}
                before, cpu_started = cpu_by_process(groups), time.monotonic()
                spy = profile_gateway(stack.gateway.popen.pid, window, scratch / "profile.txt")
                time.sleep(window)
                after, elapsed = cpu_by_process(groups), time.monotonic() - cpu_started
                report.cpu = {name: (after[name] - before[name]) / elapsed for name in groups}
            locust.wait(timeout=args.step_seconds * len(steps) + 600)
        finally:
            stop.set()
            if locust.poll() is None:
                locust.terminate()
                locust.wait(timeout=30)
            if spy is not None:
                spy.wait(timeout=120)
    if killer is not None:
        killer.join(timeout=180)
    return report


# -- reading back ---------------------------------------------------------------------------------


def resend(timeout: float = 600) -> dict[str, Any]:
    """What `./deploy.sh local --resend` runs, against this stack."""
    result = subprocess.run(
        [sys.executable, "-m", "shared.wiring.evaluations", "--max-rounds", "1000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def delivered_evaluation_ids(agent_url: str) -> list[str]:
    """One evaluation id per evaluation the agent received, once the count stops changing."""
    agent = TestAgent(agent_url, timeout=300)
    previous, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 120
    while True:
        metrics = agent.evaluation_metrics()
        if len(metrics) != previous:
            previous, stable_since = len(metrics), time.monotonic()
        elif time.monotonic() - stable_since > 5 or time.monotonic() > deadline:
            return [str(metric["tag_map"].get("evaluation_id")) for metric in metrics]
        time.sleep(1)


def read_firestore() -> Stored:
    from google.cloud import firestore
    from google.cloud.firestore_v1.base_query import FieldFilter

    client = firestore.Client(project=PROJECT)
    stored = Stored()
    for snapshot in client.collection("extractions").select(["feedback_summary", "idempotency_key"]).stream():
        summary = (snapshot.to_dict() or {}).get("feedback_summary") or {}
        stored.extractions.add(snapshot.id)
        stored.extraction_keys[snapshot.id] = (snapshot.to_dict() or {}).get("idempotency_key") or ""
        stored.feedback_counted[snapshot.id] = int(summary.get("thumbs_up", 0)) + int(summary.get("thumbs_down", 0))
    for snapshot in client.collection("feedback").select(["extraction_id"]).stream():
        stored.feedback[snapshot.id] = (snapshot.to_dict() or {})["extraction_id"]
    for name, version in [*ENTRY_VERSIONS, REVIEW_TARGET]:
        reference = client.collection("datasets").document(name).collection("versions").document(version)
        stored.entry_counts[f"{name}@{version}"] = int((reference.get().to_dict() or {}).get("entry_count", 0))
        stored.entries[f"{name}@{version}"] = {s.id for s in reference.collection("entries").select([]).stream()}
    decided = client.collection("review_items").where(filter=FieldFilter("closed", "==", 1))
    for snapshot in decided.select(["decision"]).stream():
        stored.decisions[snapshot.id] = (snapshot.to_dict() or {}).get("decision", "")
    for snapshot in client.collection("llmobs_outbox").select(["status", "submissions_json"]).stream():
        document = snapshot.to_dict() or {}
        ids = [s["evaluation_id"] for s in json.loads(document.get("submissions_json") or "[]")]
        stored.outbox[snapshot.id] = (document.get("status", ""), ids)
    return stored


def read_ledger(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line cut short when Locust stopped
            records.append(json.loads(line))
    return records


# -- report ---------------------------------------------------------------------------------------


def step_table(requests_made: list[Mapping[str, Any]]) -> list[str]:
    lines = [f"{'users':>5} {'req/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  slowest p99 (ms)"]
    by_step: dict[int, list[Mapping[str, Any]]] = collections.defaultdict(list)
    for r in requests_made:
        by_step[int(r["users"])].append(r)
    for users in sorted(by_step):
        rows = figures(by_step[users])
        total = rows[-1]
        slowest = sorted(rows[:-1], key=lambda row: -row.p99_ms)[:2]
        named = ", ".join(f"{row.name} {row.p99_ms:.0f}" for row in slowest)
        lines.append(
            f"{users:>5} {total.per_second:>6.1f} {total.p50_ms:>7.0f} {total.p99_ms:>7.0f} {total.errors:>6}  {named}"
        )
    return lines


def endpoint_table(requests_made: list[Mapping[str, Any]]) -> list[str]:
    lines = [f"{'endpoint':<40} {'reqs':>6} {'err':>4} {'5xx':>4} {'req/s':>6} {'p50':>6} {'p95':>6} {'p99 ms':>6}"]
    for row in figures(requests_made):
        lines.append(
            f"{row.name:<40} {row.requests:>6} {row.errors:>4} {row.server_errors:>4} {row.per_second:>6.1f} "
            f"{row.p50_ms:>6.0f} {row.p95_ms:>6.0f} {row.p99_ms:>6.0f}"
        )
    return lines


def profile_summary(path: Path, top: int = 10) -> list[str]:
    """Where the gateway's requests spend their time: the samples of threads inside our code
    (`shared/`, `functions/`), by our frame nearest the leaf and by the leaf itself."""
    if not path.exists():
        return ["profile: py-spy wrote nothing (no permission to attach?)"]
    ours: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [frame.replace(str(ROOT) + "/", "") for frame in stack.split(";")]
        own = [f for f in frames if "(shared/" in f or "(functions/" in f]
        if not count_text.isdigit() or not own:
            continue
        count = int(count_text)
        total += count
        ours[own[-1]] += count
        leaves[frames[-1].split("site-packages/")[-1]] += count
    if not total:
        return ["profile: no sample inside our code"]
    lines = [f"gateway profile, last step: {total} thread samples inside our code (waiting included)"]
    lines += ["  by our frame nearest the leaf:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in ours.most_common(top)]
    lines += ["  by leaf frame:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in leaves.most_common(top)]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="4,8,16,32,64", help="users per step (default 4,8,16,32,64)")
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--kill-gateway", action="store_true", help="SIGKILL the gateway mid-load and restart it")
    parser.add_argument(
        "--stall-agent", type=float, default=0.0, metavar="S", help="pause the test agent S seconds mid-load"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway during the last step")
    parser.add_argument("--keep", type=Path, help="copy the logs, ledger and profile to this folder")
    args = parser.parse_args()

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="load-mixed-") as scratch_name:
        scratch = Path(scratch_name)
        ledger, seed_file = scratch / "ledger.jsonl", scratch / "seed.json"
        with own_stack(scratch) as stack:
            seed_body, seed_records = seed(stack.url)
            seed_file.write_text(json.dumps(seed_body))
            ledger.write_text("".join(json.dumps(r) + "\n" for r in seed_records))
            print(f"stack up, seeded; Locust: {args.steps} users x {args.step_seconds:.0f} s", flush=True)
            kill = run_locust(stack, args, scratch, ledger, seed_file)
            load_after = os.getloadavg()
            resent = resend()
            delivered = delivered_evaluation_ids(stack.agent_url)
            stored = read_firestore()
        records = read_ledger(ledger)
        requests_made = [r for r in records if r.get("k") == "req"]
        result = reconcile(records, stored, delivered, review_target="@".join(REVIEW_TARGET))
        profile = profile_summary(scratch / "profile.txt") if args.profile else []
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-r", f"{scratch}/.", str(args.keep)], check=False)

    print(describe_machine())
    print(f"load average (1, 5, 15 min) before {load_before}, after the load {tuple(round(x, 2) for x in load_after)}")
    print("one gateway process (werkzeug, threaded), Firestore and Cloud Storage emulators, Gemini stand-in 1-3 s")
    print(*profile, sep="\n")
    if kill.cpu:
        busy = ", ".join(f"{name} {cores:.2f}" for name, cores in sorted(kill.cpu.items(), key=lambda kv: -kv[1]))
        print(f"cores busy during the last step, by process: {busy}")
    print("\nper step:", *step_table(requests_made), sep="\n")
    print("\nper endpoint, whole run:", *endpoint_table(requests_made), sep="\n")
    if kill.stalled_at:
        in_step = [r["users"] for r in requests_made if r["t"] <= kill.stalled_at][-1:] or ["?"]
        print(f"test agent paused (SIGSTOP) {args.stall_agent:.0f} s at {in_step[0]} users")
    if args.kill_gateway or args.stall_agent:
        if kill.error or (args.kill_gateway and not kill.killed_at):
            print(f"gateway kill/restart or agent stall FAILED: {kill.error or 'never killed'}")
            result.ok = False
        elif args.kill_gateway:
            in_step = [r["users"] for r in requests_made if r["t"] <= kill.killed_at][-1:] or ["?"]
            print(
                f"gateway SIGKILLed at {in_step[0]} users, healthy again after "
                f"{kill.healthy_again_at - kill.killed_at:.1f} s (restarted on the same port)"
            )
    print(f"evaluation resend after the load: {resent}")
    total = figures(requests_made)[-1] if requests_made else None
    run_name = "SIGKILL run" if args.kill_gateway else "plain run"
    run_name += f", test agent paused {args.stall_agent:.0f} s" if args.stall_agent else ""
    print(f"\n== {run_name}: {args.steps} users x {args.step_seconds:.0f} s ==")
    if total is not None:
        no_answer = total.errors - total.server_errors
        print(
            f"requests: {total.requests} ({total.per_second:.1f}/s), errors: {total.errors} "
            f"({total.server_errors} 5xx, {no_answer} without an answer), p50 {total.p50_ms:.0f} ms, "
            f"p99 {total.p99_ms:.0f} ms"
        )
        p99s = ", ".join(f"{row.name} {row.p99_ms:.0f}" for row in figures(requests_made)[:-1])
        print(f"p99 ms per endpoint: {p99s}")
    print(*result.lines, sep="\n")
    verdict = result.ok and total is not None and total.server_errors == 0
    print(f"RESULT: {'writes stored once, evaluations delivered once' if verdict else 'FAILED'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
