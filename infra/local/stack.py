"""Run the whole local stack: the emulators, the Datadog test agent, the gateway, the scheduler and the console.

    python -m infra.local.stack up [--detach]   # ./deploy.sh local [--detach]
    python -m infra.local.stack down            # ./deploy.sh local --stop

`up` starts everything on the default ports (FIRESTORE_PORT, PUBSUB_PORT, GCS_PORT, DD_AGENT_PORT,
DD_OTLP_HTTP_PORT, DD_OTLP_GRPC_PORT, GATEWAY_PORT, CONSOLE_PORT override them), waits until the gateway's
/healthz answers 200, and records every process group in `.local/stack.json`. Without --detach
it runs the demo and serves until Ctrl-C or SIGTERM, then stops everything; with --detach it
returns and leaves the processes running (each has its own session). `down` stops what
`.local/stack.json` names and verifies nothing is left. Logs: `.local/logs/`, one file a process.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from infra.local.console import DEFAULT_CONSOLE_PORT, start_console
from infra.local.emulators import (
    HOST,
    STACK_ID_VARIABLE,
    EmulatorError,
    EmulatorProcess,
    RunningStack,
    StackPorts,
    ensure_bucket,
    group_alive,
    http_ok,
    port_in_use,
    spawn,
    start_stack,
    stop_all,
    stop_process_group,
    tail,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# LOCAL_STATE_DIR moves state, logs and stored objects elsewhere (the tests use a temporary folder).
STATE_DIR = Path(os.environ.get("LOCAL_STATE_DIR") or REPO_ROOT / ".local").resolve()
LOG_DIR = STATE_DIR / "logs"
STATE_FILE = STATE_DIR / "stack.json"
GCS_ROOT = STATE_DIR / "gcs"
PUBSUB_DATA_DIR = STATE_DIR / "pubsub"

DEFAULT_GATEWAY_PORT = 8080
DEFAULT_API_KEYS = "local-dev-key"
GATEWAY_MODULE = "infra.local.gateway"
DEMO_MODULE = "infra.local.demo"
# The gateway imports every function (OCR, ddtrace, Google clients) before it answers.
HEALTH_TIMEOUT_SECONDS = float(os.environ.get("GATEWAY_HEALTH_TIMEOUT", "120"))

STOP_FIRST = "run ./deploy.sh local --stop first"


class StackError(RuntimeError):
    """The local stack could not be brought up or down; the message says why."""


def say(message: str, *, stream: TextIO | None = None) -> None:
    """Print a line; never raise. `./deploy.sh local | tee log` and Ctrl-C: the terminal's SIGINT
    kills the reader too, and a write to its pipe must not abort the stopping that follows."""
    out = stream or sys.stdout
    try:
        print(f"[local] {message}", file=out, flush=True)
    except (OSError, ValueError):  # EPIPE, a closed stream: nobody reads any more
        _silence(out)


def _silence(stream: TextIO) -> None:
    """Send what is still written to a dead stream to /dev/null (also the interpreter's last flush)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = open(os.devnull, "w")  # kept open for the rest of the process
        if stream is sys.stdout:
            sys.stdout = devnull
        elif stream is sys.stderr:
            sys.stderr = devnull


@dataclass(frozen=True)
class StackState:
    """What `.local/stack.json` records about a running stack."""

    stack_id: str
    process_groups: dict[str, int]
    endpoints: dict[str, str]
    log_dir: str
    started_at: float
    environment: dict[str, str] = field(default_factory=dict)  # what a command needs to reach the stack

    def to_json(self) -> dict[str, Any]:
        return {
            "stack_id": self.stack_id,
            "process_groups": self.process_groups,
            "endpoints": self.endpoints,
            "log_dir": self.log_dir,
            "started_at": self.started_at,
            "environment": self.environment,
        }

    @classmethod
    def read(cls, path: Path = STATE_FILE) -> StackState | None:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StackError(f"{path} is unreadable ({exc}); remove it after checking `ps -eo pid,pgid,cmd`.") from exc
        return cls(
            stack_id=str(raw["stack_id"]),
            process_groups={str(name): int(pgid) for name, pgid in raw["process_groups"].items()},
            endpoints=dict(raw.get("endpoints", {})),
            log_dir=str(raw.get("log_dir", LOG_DIR)),
            started_at=float(raw.get("started_at", 0)),
            environment={str(k): str(v) for k, v in raw.get("environment", {}).items()},
        )

    def write(self, path: Path = STATE_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temporary.replace(path)

    def live_groups(self) -> dict[str, int]:
        return {name: pgid for name, pgid in self.process_groups.items() if group_alive(pgid, stack_id=self.stack_id)}


def port_from(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{name} must be a TCP port number (1-65535), not {raw!r}.")
    return int(raw)


def gateway_port(environ: Mapping[str, str]) -> int:
    return port_from(environ, "GATEWAY_PORT", DEFAULT_GATEWAY_PORT)


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


class _Stopped(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived: leave what is running and stop everything."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


class LocalStackRunner:
    """Brings the stack up, records it, serves, and takes down what it started."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)
        self.ports = StackPorts.from_env(environ)
        self.gateway_port = gateway_port(environ)
        self.gateway_module = environ.get("LOCAL_GATEWAY_MODULE", GATEWAY_MODULE)
        self.stack_id = uuid.uuid4().hex
        self.running: RunningStack | None = None
        self.gateway: EmulatorProcess | None = None
        self.scheduler: EmulatorProcess | None = None
        self.console: EmulatorProcess | None = None
        self.console_port = port_from(environ, "CONSOLE_PORT", DEFAULT_CONSOLE_PORT)

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"

    def state(self) -> StackState:
        groups: dict[str, int] = {}
        endpoints: dict[str, str] = {}
        if self.running is not None:
            groups |= self.running.process_groups()
            endpoints |= self.running.stack.endpoints()
        if self.gateway is not None:
            groups["gateway"] = self.gateway.pgid
            endpoints["gateway"] = self.gateway_url
        if self.scheduler is not None:
            groups["scheduler"] = self.scheduler.pgid
        if self.console is not None:
            groups["console"] = self.console.pgid
            endpoints["console"] = self.console.url
        environment = self.running.stack.env() | {"API_KEYS": self.api_keys()} if self.running else {}
        return StackState(self.stack_id, groups, endpoints, str(LOG_DIR), time.time(), environment)

    def up(self) -> None:
        if not module_exists(self.gateway_module):
            raise StackError(
                f"The gateway module {self.gateway_module} does not exist yet "
                "(infra/local/gateway.py serves every function at /<name>)."
            )
        if port_in_use(self.gateway_port):
            raise StackError(
                f"The gateway cannot start: port {self.gateway_port} on {HOST} is already in use "
                "(stop whatever listens there, or set GATEWAY_PORT)."
            )
        if port_in_use(self.console_port):
            raise StackError(
                f"The console cannot start: port {self.console_port} on {HOST} is already in use "
                "(stop whatever listens there, or set CONSOLE_PORT)."
            )
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        say(f"starting Firestore, Pub/Sub, Cloud Storage and the Datadog test agent (logs: {LOG_DIR})")
        try:
            self.running = start_stack(
                self.ports,
                LOG_DIR,
                gcs_root=GCS_ROOT,
                pubsub_data_dir=PUBSUB_DATA_DIR,
                stack_id=self.stack_id,
            )
        except EmulatorError as exc:
            raise StackError(str(exc)) from exc
        # Recorded at once, so `down` finds these even if what follows fails badly.
        self.state().write()
        timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.running.startup_seconds().items())
        say(f"emulators ready ({timings})")
        stack = self.running.stack
        try:
            ensure_bucket(stack.storage_url, stack.project, stack.bucket)
        except EmulatorError as exc:
            raise StackError(str(exc)) from exc
        self.ensure_shard_subscription()
        self.start_gateway()
        self.state().write()
        say(f"stack healthy in {time.monotonic() - started:.1f} s: gateway {self.gateway_url}")
        for name, url in stack.endpoints().items():
            say(f"  {name:<10} {url}")
        say(f"  project    {stack.project}, bucket {stack.bucket}; state in {STATE_FILE}")

    def api_keys(self) -> str:
        return self.environ.get("API_KEYS", "").strip() or DEFAULT_API_KEYS

    def child_environment(self) -> dict[str, str]:
        """The environment of the gateway and the demo: the stack's variables and the API keys."""
        assert self.running is not None
        return (
            self.environ
            | self.running.stack.env()
            | {
                "API_KEYS": self.api_keys(),
                "GATEWAY_PORT": str(self.gateway_port),
                "PYTHONUNBUFFERED": "1",
            }
        )

    def ensure_shard_subscription(self) -> None:
        """Experiment shards: the topic, pushed by the Pub/Sub emulator to the gateway's worker."""
        endpoint = f"{self.gateway_url}/experiments-worker"
        result = subprocess.run(
            [sys.executable, "-m", "infra.local.pubsub", "--push-endpoint", endpoint],
            env=self.child_environment(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"Could not create the shards topic on the Pub/Sub emulator: {result.stderr.strip()}")
        say(f"shards topic pushed to {endpoint}")

    def start_gateway(self) -> None:
        env = self.child_environment()
        log_path = LOG_DIR / "gateway.log"
        started = time.monotonic()
        popen = spawn(
            "gateway",
            [sys.executable, "-m", self.gateway_module, "--port", str(self.gateway_port)],
            log_path=log_path,
            env=env,
            cwd=REPO_ROOT,
            stack_id=self.stack_id,
        )
        self.gateway = EmulatorProcess("gateway", popen, log_path, self.gateway_url, self.stack_id)
        self.state().write()
        say(f"starting the gateway on {self.gateway_url} (waiting for /healthz, up to {HEALTH_TIMEOUT_SECONDS:.0f} s)")
        deadline = started + HEALTH_TIMEOUT_SECONDS
        delay = 0.1
        while not http_ok(f"{self.gateway_url}/healthz", timeout=5):
            if popen.poll() is not None:
                raise StackError(
                    f"The gateway exited with status {popen.returncode} before /healthz answered 200; "
                    f"see {log_path} (all logs in {LOG_DIR}):\n{tail(log_path)}"
                )
            if time.monotonic() >= deadline:
                raise StackError(
                    f"The gateway's {self.gateway_url}/healthz did not answer 200 within "
                    f"{HEALTH_TIMEOUT_SECONDS:.0f} s; see {log_path} (all logs in {LOG_DIR}):\n{tail(log_path)}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        self.gateway.startup_seconds = time.monotonic() - started

    def start_scheduler(self) -> None:
        """Cloud Scheduler's stand-in: triggers /experiments-scheduled every minute."""
        log_path = LOG_DIR / "scheduler.log"
        popen = spawn(
            "scheduler",
            [sys.executable, "-m", "infra.local.scheduler", "--base-url", self.gateway_url],
            log_path=log_path,
            env=self.child_environment(),
            cwd=REPO_ROOT,
            stack_id=self.stack_id,
        )
        self.scheduler = EmulatorProcess("scheduler", popen, log_path, self.gateway_url, self.stack_id)
        self.state().write()
        say(f"scheduler: POST /experiments-scheduled every minute (log: {log_path})")

    def start_console(self) -> None:
        """The Streamlit console, a client of the gateway (http://127.0.0.1:8501)."""
        try:
            self.console = start_console(
                port=self.console_port,
                api_base_url=self.gateway_url,
                api_key=self.api_keys().split(",")[0].strip(),
                log_path=LOG_DIR / "console.log",
                stack_id=self.stack_id,
                environ=self.environ,
            )
        except EmulatorError as exc:
            raise StackError(str(exc)) from exc
        self.state().write()
        say(f"console: {self.console.url} (log: {LOG_DIR / 'console.log'})")

    def seed_dataset(self) -> None:
        """A published demo dataset, so a new user can run experiments straight away."""
        result = subprocess.run(
            [sys.executable, "-m", "infra.local.seed_dataset", "--base-url", self.gateway_url],
            cwd=REPO_ROOT,
            env=self.child_environment() | {"DEMO_API_KEY": self.api_keys().split(",")[0].strip()},
            check=False,
        )
        if result.returncode != 0:
            say(f"seeding the demo dataset failed (exit status {result.returncode}); the stack keeps running")

    def run_demo(self) -> None:
        if not module_exists(DEMO_MODULE):
            say(f"no demo yet ({DEMO_MODULE} does not exist)")
            return
        say("running the demo")
        result = subprocess.run(
            [sys.executable, "-m", DEMO_MODULE, "--base-url", self.gateway_url],
            cwd=REPO_ROOT,
            env=self.child_environment() | {"DEMO_API_KEY": self.api_keys().split(",")[0].strip()},
            check=False,
        )
        if result.returncode != 0:
            say(f"the demo failed (exit status {result.returncode}); the stack keeps running")

    def serve(self) -> None:
        """Wait until Ctrl-C or SIGTERM; stop early if a process of the stack dies."""
        say("serving; press Ctrl-C to stop")
        processes = self.processes()
        while True:
            for process in processes:
                if process.popen.poll() is not None:
                    raise StackError(
                        f"The {process.name} exited unexpectedly (status {process.popen.returncode}); "
                        f"see {process.log_path}:\n{tail(process.log_path)}"
                    )
            time.sleep(1)

    def processes(self) -> list[EmulatorProcess]:
        processes = list(self.running.processes.values()) if self.running is not None else []
        if self.scheduler is not None:
            processes.append(self.scheduler)
        if self.console is not None:
            processes.append(self.console)
        if self.gateway is not None:
            processes.append(self.gateway)
        return processes

    def stop(self) -> None:
        """Stop the console, the scheduler and the gateway, then the emulators; then forget the state file."""
        if self.console is not None:
            self.console.stop()
            self.console = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.running is not None:
            stop_all(self.running.processes.values())
            self.running = None
        STATE_FILE.unlink(missing_ok=True)


def check_not_running() -> None:
    state = StackState.read()
    if state is None:
        return
    live = state.live_groups()
    if live:
        names = ", ".join(f"{name} (process group {pgid})" for name, pgid in live.items())
        raise StackError(f"A local stack is already running: {names}; {STOP_FIRST}.")
    STATE_FILE.unlink(missing_ok=True)  # stale: its processes are gone


def up(*, detach: bool) -> int:
    check_not_running()
    runner = LocalStackRunner(os.environ)
    # Ctrl-C, `kill PID` and a closed terminal all stop everything this process started.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stopped)
    try:
        runner.up()
        runner.seed_dataset()
        runner.start_scheduler()
        runner.start_console()
        if detach:
            say("detached; stop with ./deploy.sh local --stop")
            return 0
        runner.run_demo()
        runner.serve()
    except (KeyboardInterrupt, _Stopped):
        return 0 if _stop_everything(runner) else 1
    except BaseException:
        _stop_everything(runner)
        raise
    return 0


def _stop_everything(runner: LocalStackRunner) -> bool:
    """Stop what `runner` started; report (not raise) a failure so the original error survives.

    Nothing here may abort the stopping: further signals are ignored (a second Ctrl-C), and
    `say` never raises (the pipe to `tee` may be gone). Every child runs in a session of its
    own, so nothing but this stops them."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    say("stopping")
    stopped = True
    try:
        runner.stop()
    except EmulatorError as exc:
        say(f"error while stopping: {exc}", stream=sys.stderr)
        stopped = False
    # Processes started by a step that was interrupted before it recorded them (e.g. Ctrl-C while
    # the emulators were starting) carry the stack's id in their environment: stop their groups too.
    for pgid in stray_groups(runner.stack_id):
        try:
            stop_process_group(pgid, name="interrupted start", stack_id=runner.stack_id)
        except EmulatorError as exc:
            say(f"error while stopping: {exc}", stream=sys.stderr)
            stopped = False
    if stopped:
        say("stopped")
    return stopped


def stray_groups(stack_id: str) -> set[int]:
    """Process groups, other than this process's own, of live processes marked with `stack_id`."""
    proc = Path("/proc")
    if not proc.is_dir():
        return set()
    own = os.getpgrp()
    marker = f"{STACK_ID_VARIABLE}={stack_id}".encode()
    groups = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            pgid = os.getpgid(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
        if pgid != own:
            groups.add(pgid)
    return groups


def down() -> int:
    state = StackState.read()
    if state is None:
        say("no local stack is running")
        return 0
    # The console, the scheduler and the gateway first: they talk to the emulators.
    ordered = sorted(state.process_groups.items(), key=lambda item: item[0] not in ("console", "scheduler", "gateway"))
    errors: list[str] = []
    for name, pgid in ordered:
        try:
            stop_process_group(pgid, name=name, stack_id=state.stack_id)
        except EmulatorError as exc:
            errors.append(str(exc))
    if errors:
        raise StackError(" ".join(errors))
    left = state.live_groups()
    if left:
        raise StackError(f"Processes of the stack are still running: {left}.")
    STATE_FILE.unlink(missing_ok=True)
    say(f"stopped {len(ordered)} process groups ({', '.join(name for name, _ in ordered)})")
    return 0


def run(command: list[str]) -> int:
    """Run `command` with the running stack's environment (e.g. the evaluation resend)."""
    state = StackState.read()
    if state is None or not state.live_groups():
        raise StackError("No local stack is running: start it with ./deploy.sh local --detach.")
    if not command:
        raise StackError("Name the command to run after `run --`.")
    os.execvpe(command[0], command, os.environ | state.environment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.stack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the stack (serves until Ctrl-C unless --detach)")
    up_parser.add_argument("--detach", action="store_true", help="return once healthy, leave it running")
    commands.add_parser("down", help="stop the stack started with --detach")
    run_parser = commands.add_parser("run", help="run a command with the running stack's environment")
    run_parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args.argv[1:] if args.argv[:1] == ["--"] else args.argv)
        return up(detach=args.detach) if args.command == "up" else down()
    except (StackError, EmulatorError) as exc:
        say(f"error: {exc}", stream=sys.stderr)
        return 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
