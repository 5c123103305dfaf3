"""Shared pytest fixtures and hooks.

Sections (add new fixtures under the section they belong to, or add a section):

1. Local Google Cloud stack: the real emulators and Datadog's test agent, started once per
   session on free ports (so tests run while `./deploy.sh local` holds the default ports).
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.emulators import (
    DD_AGENT,
    EmulatorError,
    LocalStack,
    RunningStack,
    StackPorts,
    ensure_bucket,
    reset_firestore,
    start_stack,
    start_test_agent,
)
from infra.local.test_agent import TestAgent

# ============================================================================================
# 1. Local Google Cloud stack

TEST_PROJECT = "vote-extractor-test"
TEST_API_KEY = "test-key"

_LOCAL_STACK_KEY = pytest.StashKey[LocalStack]()
_SAVED_ENVIRON_KEY = pytest.StashKey[dict[str, str | None]]()
_RUNNING_STACK_KEY = pytest.StashKey[RunningStack]()


def pytest_configure(config: pytest.Config) -> None:
    """Choose the stack's ports and export its environment before any test module is imported.

    Clients read their configuration at import time (ddtrace's agent URL, the cached settings
    object), so the variables must be in place before collection, not only once the
    `local_stack` fixture runs. The emulators themselves start lazily, on first use.
    """
    stack = LocalStack(ports=StackPorts.free(), project=TEST_PROJECT)
    # The cross check (a second reading of every extraction) is on in the product; tests of other
    # features run without it (no extra OCR time, no extra Gemini stand-in request, no extra review
    # reason); tests/integration/test_cross_check.py switches it on. Likewise the random sample for
    # production accuracy (2% of extractions in the product, whose extra review reason would make
    # other tests' queue counts depend on chance): tests/integration/test_production_accuracy.py sets it.
    environment = stack.env() | {"API_KEYS": TEST_API_KEY, "CROSS_CHECK": "off", "REVIEW_RANDOM_SAMPLE_RATE": "0"}
    config.stash[_LOCAL_STACK_KEY] = stack
    config.stash[_SAVED_ENVIRON_KEY] = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    _repoint_preloaded_ddtrace(stack.dd_agent_url)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running on the main
    thread until the session ends, and `asyncio.run` in any later test would refuse to start."""
    browser = Path(__file__).resolve().parent / "browser"
    items.sort(key=lambda item: Path(str(item.path)).is_relative_to(browser))


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in config.stash.get(_SAVED_ENVIRON_KEY, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _repoint_preloaded_ddtrace(agent_url: str) -> None:
    # ddtrace's own pytest plugin (entry point "ddtrace") imports ddtrace, and creates its tracer,
    # before this conftest runs, freezing DD_TRACE_AGENT_URL and DD_APM_TRACING_ENABLED at their
    # old values: spans would go to the default agent on 127.0.0.1:8126 (the `./deploy.sh local`
    # one). `-p no:ddtrace` (pyproject addopts, ./deploy.sh test) avoids this altogether; when the
    # plugin did load, re-read the settings LLMObs.enable() consults and re-point the tracer.
    if "ddtrace.internal.settings._agent" not in sys.modules:
        return
    try:
        from ddtrace.internal.settings import _agent, standalone
        from ddtrace.trace import tracer

        _agent.config.__init__()  # type: ignore[misc]
        standalone.standalone_config.reset()
        tracer._agent_url = agent_url  # type: ignore[attr-defined]
    except (ImportError, AttributeError) as exc:
        warnings.warn(
            f"ddtrace was imported before the test stack's environment was set and could not be re-pointed "
            f"({exc!r}); run pytest with -p no:ddtrace.",
            stacklevel=1,
        )


def _flush_ddtrace() -> None:
    # Send what ddtrace still buffers while the test agent is up, instead of failing at exit.
    if "ddtrace.trace" not in sys.modules:
        return
    from ddtrace.llmobs import LLMObs
    from ddtrace.trace import tracer

    if LLMObs.enabled:
        LLMObs.flush()
    tracer.flush()


@pytest.fixture(scope="session")
def local_stack(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Firestore, Pub/Sub, Cloud Storage (in memory) and the Datadog test agent, running.

    The environment (FIRESTORE_EMULATOR_HOST, ..., API_KEYS=test-key) is already exported for
    the whole session. A service that cannot start fails the tests that need it.
    """
    stack = pytestconfig.stash[_LOCAL_STACK_KEY]
    log_dir: Path = tmp_path_factory.mktemp("local-stack-logs")
    try:
        running: RunningStack = start_stack(stack.ports, log_dir, project=stack.project, bucket=stack.bucket)
    except EmulatorError as exc:
        pytest.fail(f"The local stack could not start (logs in {log_dir}):\n{exc}", pytrace=False)
    pytestconfig.stash[_RUNNING_STACK_KEY] = running
    try:
        ensure_bucket(stack.storage_url, stack.project, stack.bucket)
        yield stack
    except EmulatorError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        _flush_ddtrace()
        running.stop()


@pytest.fixture(scope="session")
def test_agent(local_stack: LocalStack) -> TestAgent:
    """Client for the session's Datadog test agent (use `clean_test_agent` to start empty)."""
    return TestAgent(local_stack.dd_agent_url)


@pytest.fixture
def clean_test_agent(test_agent: TestAgent) -> TestAgent:
    """The test agent, with everything received before this test forgotten."""
    test_agent.clear()
    return test_agent


@pytest.fixture
def clean_firestore(local_stack: LocalStack) -> LocalStack:
    """The local stack, with every Firestore document of the test project deleted first."""
    reset_firestore(local_stack.firestore_host, local_stack.project)
    return local_stack


class TestAgentSwitch:
    """Stop the session's Datadog test agent (an outage) and start it again on the same port."""

    __test__ = False

    def __init__(self, running: RunningStack, log_dir: Path) -> None:
        self._running = running
        self._log_dir = log_dir

    def stop(self) -> None:
        self._running.processes.pop(DD_AGENT).stop()

    def start(self) -> None:
        ports = self._running.stack.ports
        self._running.processes[DD_AGENT] = start_test_agent(
            ports.dd_agent,
            self._log_dir,
            otlp_http_port=ports.dd_otlp_http,
            otlp_grpc_port=ports.dd_otlp_grpc,
        )


@pytest.fixture
def test_agent_switch(
    pytestconfig: pytest.Config, local_stack: LocalStack, tmp_path: Path
) -> Iterator[TestAgentSwitch]:
    """Lets a test take Datadog down; the agent is always running again after the test."""
    running = pytestconfig.stash[_RUNNING_STACK_KEY]
    switch = TestAgentSwitch(running, tmp_path)
    yield switch
    if DD_AGENT not in running.processes:
        switch.start()


class EmulatorPause:
    """Pause one of the session's emulators (SIGSTOP to its process group) and continue it: a hung
    dependency, as a stuck server or a network partition looks (connections open, nothing answers)."""

    __test__ = False

    def __init__(self, running: RunningStack) -> None:
        self._running = running
        self._paused: set[int] = set()

    def pause(self, name: str) -> None:
        """`name`: FIRESTORE, PUBSUB or GCS from infra.local.emulators."""
        group = self._running.processes[name].pgid
        self._paused.add(group)
        os.killpg(group, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        group = self._running.processes[name].pgid
        os.killpg(group, signal.SIGCONT)
        self._paused.discard(group)

    def resume_all(self) -> None:
        for group in sorted(self._paused):
            os.killpg(group, signal.SIGCONT)
        self._paused.clear()


@pytest.fixture
def emulator_pause(pytestconfig: pytest.Config, local_stack: LocalStack) -> Iterator[EmulatorPause]:
    """Lets a test pause (hang) a session emulator; every paused one continues after the test."""
    pause = EmulatorPause(pytestconfig.stash[_RUNNING_STACK_KEY])
    try:
        yield pause
    finally:
        pause.resume_all()
