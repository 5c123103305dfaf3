"""The real gateway process, as `./deploy.sh local` runs it: every function at `/<function>`.

Also the outage path: with Datadog unreachable an extraction still answers 200, and its
evaluations are kept pending in Firestore for a later resend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from infra.local.emulators import free_ports
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration import stored
from tests.integration.processes import start_gateway


@pytest.fixture(scope="module")
def gateway(local_stack, tmp_path_factory) -> Iterator[str]:
    process, url = start_gateway(tmp_path_factory.mktemp("gateway"))
    yield url
    process.stop()


@pytest.fixture(scope="module")
def gateway_without_datadog(local_stack, tmp_path_factory) -> Iterator[str]:
    [dead_port] = free_ports(1)  # nothing listens here: Datadog is "down"
    process, url = start_gateway(
        tmp_path_factory.mktemp("gateway-dd-down"),
        expect_healthy=False,
        DD_TRACE_AGENT_URL=f"http://127.0.0.1:{dead_port}",
    )
    yield url
    process.stop()


def post_form(url: str, seed: int) -> requests.Response:
    form = generate_form(seed)
    return requests.post(
        f"{url}/extract",
        headers={"X-API-Key": TEST_API_KEY},
        files={"image": ("form.png", form.image, "image/png")},
        data={"expected": form.truth.model_dump_json()},
        timeout=60,
    )


@pytest.mark.integration
def test_gateway_serves_extract_without_a_trailing_slash_and_reports_health(gateway):
    health = requests.get(f"{gateway}/healthz", timeout=10)
    response = post_form(gateway, 31)

    assert health.status_code == 200 and all(health.json()["checks"].values())
    assert response.status_code == 200, response.text
    fetched = requests.get(
        f"{gateway}/extract/{response.json()['extraction_id']}", headers={"X-API-Key": TEST_API_KEY}, timeout=10
    )
    assert fetched.status_code == 200
    assert requests.get(f"{gateway}/nowhere", timeout=10).status_code == 404


@pytest.mark.integration
def test_a_datadog_outage_fails_no_request_and_keeps_the_evaluations_pending(gateway_without_datadog):
    health = requests.get(f"{gateway_without_datadog}/healthz", timeout=10)
    response = post_form(gateway_without_datadog, 32)

    assert health.status_code == 503
    assert [name for name, ok in health.json()["checks"].items() if not ok] == ["datadog_test_agent"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded" and body["span_id"]
    outbox = stored.outbox_documents(body["extraction_id"])
    assert {d["label"] for d in outbox} == {e["label"] for e in body["evaluations"]}
    assert {d["status"] for d in outbox} == {"pending"}


@pytest.mark.integration
def test_the_local_stack_seeds_a_published_demo_dataset_once(gateway):
    from infra.local.seed_dataset import NAME, VERSION, seed

    first = seed(gateway, TEST_API_KEY, 4)
    second = seed(gateway, TEST_API_KEY, 4)

    version = requests.get(
        f"{gateway}/datasets/{NAME}/{VERSION}", headers={"X-API-Key": TEST_API_KEY}, timeout=30
    ).json()
    assert "published" in first and "already exists" in second
    assert version["status"] == "published" and version["entry_count"] == 4
    assert all(e["expected_output"]["vote_results"] and e["reference_docs"] for e in version["entries"])
