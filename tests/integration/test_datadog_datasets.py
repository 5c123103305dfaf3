"""A published dataset version pushed to Datadog's Datasets, once, through the gateway process.

Datadog cannot be reached from here: `tests.fakes.datadog_api` answers ddtrace's datasets calls
(DD_LLMOBS_OVERRIDE_ORIGIN points ddtrace at it). In production the same code talks to Datadog.
"""

from __future__ import annotations

import requests

from shared.synthetic.forms import generate_form
from tests.fakes.datadog_api import FakeDatadogApi
from tests.integration.builders import HEADERS, published_dataset
from tests.integration.processes import start_gateway
from tests.openapi_contract import assert_matches_contract


def test_a_published_version_is_pushed_to_datadog_once(local_stack, fake_gemini, datasets_client, tmp_path):
    datadog = FakeDatadogApi()
    gateway, url = start_gateway(
        tmp_path,
        DD_API_KEY="dd-api-test",
        DD_APP_KEY="dd-app-test",
        DD_LLMOBS_OVERRIDE_ORIGIN=datadog.url,
        DD_LLMOBS_AGENTLESS_ENABLED="1",
    )
    try:
        forms = [generate_form(560 + i) for i in range(3)]
        name, truths = published_dataset(datasets_client, forms)

        first = requests.post(f"{url}/datasets/{name}/v1/push-to-datadog", headers=HEADERS, timeout=60)
        again = requests.post(f"{url}/datasets/{name}/v1/push-to-datadog", headers=HEADERS, timeout=60)

        assert first.status_code == 201, first.text
        assert_matches_contract("/datasets/{name}/{version}/push-to-datadog", "POST", 201, first.json())
        assert again.status_code == 200 and again.json()["datadog_dataset_id"] == first.json()["datadog_dataset_id"]
        [(dataset_id, pushed)] = datadog.datasets.items()
        assert dataset_id == first.json()["datadog_dataset_id"] and pushed["name"] == f"{name}-v1"
        records = sorted(pushed["records"], key=lambda r: r["metadata"]["entry_id"])
        assert [r["metadata"]["entry_id"] for r in records] == ["form-000", "form-001", "form-002"]
        assert [r["expected_output"] for r in records] == [truths[form.image] for form in forms]
        assert all(r["input"]["image_uri"].startswith("gs://") for r in records)
        creates = [r for r in datadog.received if r.path.endswith("/datasets")]
        assert len(creates) == 1
        assert creates[0].headers.get("dd-api-key") == "dd-api-test"
        assert creates[0].headers.get("dd-application-key") == "dd-app-test"
        version = requests.get(f"{url}/datasets/{name}/v1", headers=HEADERS, timeout=30).json()
        assert version["datadog_dataset_id"] == dataset_id
    finally:
        gateway.stop()
        datadog.stop()


def test_pushing_needs_a_published_version_and_datadog_keys(datasets_client):
    name, _ = published_dataset(datasets_client, [generate_form(570)])
    not_configured = datasets_client.post(f"/{name}/v1/push-to-datadog", headers=HEADERS)
    assert not_configured.status_code == 409 and not_configured.json["error"]["code"] == "datadog_not_configured"
    assert datasets_client.post(f"/{name}/v2/push-to-datadog", headers=HEADERS).status_code == 404
    assert datasets_client.post("/no_such/v1/push-to-datadog", headers=HEADERS).status_code == 404
    assert datasets_client.post(f"/{name}/v1/push-to-datadog", headers={}).status_code == 401
