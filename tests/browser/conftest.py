"""Browser tests: Debian's Chromium driven by Playwright (pytest-playwright's fixtures).

`playwright install` cannot download browsers here, so the system browser is launched by path.
The set-up (`./deploy.sh test`) installs it with apt, like Tesseract; a missing browser fails the
run, never skips it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
# Without these, Chromium reaches for Google's hosts at every start; this machine's network refuses them.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM:
        pytest.fail("Chromium is missing: ./deploy.sh test installs it (apt-get install chromium).", pytrace=False)
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


SCREENSHOTS_FOR_README = os.environ.get("UPDATE_README_SCREENSHOTS") == "1"
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class Screenshots:
    """Saves a page's screenshot under the test's output folder; with UPDATE_README_SCREENSHOTS=1
    also as docs/screenshots/NAME.png, the pictures the README shows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[Path] = []

    def take(self, page: Any, name: str, *, for_readme: bool = False, full_page: bool = False) -> Path:
        path = self.folder / f"{len(self.taken):02d}-{name}.png"
        # Pictures arrive after the page's script has finished: wait for them, as a person would.
        page.wait_for_function(
            "() => [...document.images].every(image => image.complete && image.naturalWidth > 0)"
            " && !document.querySelector('[data-testid=stSkeleton]')",
            timeout=15_000,
        )
        page.wait_for_timeout(300)
        page.screenshot(path=str(path), full_page=full_page)
        self.taken.append(path)
        if for_readme and SCREENSHOTS_FOR_README:
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS / f"{name}.png")
        return path


@pytest.fixture
def screenshots(tmp_path: Path) -> Screenshots:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return Screenshots(folder)


# --- the product under the browser: a gateway process and the console, on free ports ----------

CONSOLE_API_KEY = "test-key"  # tests/conftest.py's TEST_API_KEY, what the session's API accepts


@pytest.fixture(scope="session")
def api_url(local_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real gateway process over the session's emulators (tesseract is the default model), its
    experiments' shards pushed to its own worker through a topic of its own, as `./deploy.sh
    local` wires them (so the pages run experiments whatever else the session started)."""
    import uuid

    from infra.local.pubsub import ensure_shard_subscription
    from tests.integration.processes import start_gateway

    topic = f"shards-browser-{uuid.uuid4().hex[:8]}"
    process, url = start_gateway(
        tmp_path_factory.mktemp("browser-gateway"), DEFAULT_MODEL="tesseract", SHARDS_TOPIC=topic
    )
    ensure_shard_subscription(project=local_stack.project, topic=topic, push_endpoint=f"{url}/experiments-worker")
    yield url
    process.stop()


@pytest.fixture(scope="session")
def demo_seeded(api_url: str) -> str:
    """The demo `./deploy.sh local` seeds (demo_forms@v1, its schedule, a little traffic)."""
    from infra.local.seed_dataset import seed, seed_schedule, seed_traffic

    seed(api_url, CONSOLE_API_KEY, 24)
    seed_schedule(api_url, CONSOLE_API_KEY)
    seed_traffic(api_url, CONSOLE_API_KEY)
    return api_url


def start_console_for(api: str, log_dir: Path) -> Any:
    from infra.local.console import start_console
    from infra.local.emulators import free_ports

    [port] = free_ports(1)
    return start_console(port=port, api_base_url=api, api_key=CONSOLE_API_KEY, log_path=log_dir / "console.log")


@pytest.fixture(scope="session")
def console_url(demo_seeded: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Streamlit console as ./deploy.sh local runs it, pointed at the gateway."""
    process = start_console_for(demo_seeded, tmp_path_factory.mktemp("console"))
    yield process.url
    process.stop()


@pytest.fixture(scope="session")
def base_url(console_url: str) -> str:
    """pytest-playwright resolves `page.goto("/Vote_Extractor")` against this."""
    return console_url
