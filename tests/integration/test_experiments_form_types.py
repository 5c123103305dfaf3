"""Experiments and schedules by form type, over the real emulators with the offline model: a
user-defined type used by golden entries and by an experiment's variant, the type each run
resolved recorded, its rules named by `consistency`, and a schedule's `form_type`."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest

from shared.form_types.model import FormType
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, new_draft, wait_done
from tests.openapi_contract import assert_matches_contract

USER_RULES = ["valid_is_votes", "issued_covers_all"]
GENERIC_RULES = ["valid_is_sum_of_votes", "total_is_valid_plus_rejected"]
SLOT_TIME = "X-CloudScheduler-ScheduleTime"


@pytest.fixture
def county_sheet(extract_client) -> FormType:
    """A county's own result sheet, added through the form-type API as a user would."""
    draft = {
        "name": f"county_{uuid.uuid4().hex[:8]}",
        "title": "County tally sheet",
        "country": "KE",
        "statistics": [
            {"key": "valid_votes", "label": "Valid votes"},
            {"key": "spoilt_papers", "label": "Spoilt papers"},
            {"key": "papers_issued", "label": "Papers issued"},
        ],
        "rules": [
            {"id": "valid_is_votes", "expr": "valid_votes == sum(votes)"},
            {"id": "issued_covers_all", "expr": "papers_issued >= valid_votes + spoilt_papers"},
        ],
    }
    created = extract_client.post("/form-types", json=draft, headers=HEADERS)
    assert created.status_code == 201, created.json
    described = extract_client.get(f"/form-types/{draft['name']}", headers=HEADERS).json
    assert described["versions"] == [1], described
    return FormType.model_validate({k: v for k, v in described.items() if k != "versions"})


def county_dataset(datasets_client, form_type: FormType, seeds: list[int]) -> str:
    """A published dataset of synthetic forms whose expected outputs are `form_type`'s papers."""
    name = new_draft(datasets_client, "county")
    entries = []
    for seed in seeds:
        form = generate_form(seed)
        stats = form.truth.ballot_stats
        expected = form.truth.model_dump() | {
            "form": {"form_type": form_type.name, "constituency_name": form.truth.form.constituency_name},
            "ballot_stats": {},
            "statistics": {
                "valid_votes": stats.valid_votes,
                "spoilt_papers": stats.rejected_ballots,
                "papers_issued": stats.total_ballots,
            },
        }
        entries.append(
            {
                "id": f"sheet-{seed}",
                "input": {"image_base64": base64.b64encode(form.image).decode()},
                "expected_output": expected,
            }
        )
    added = datasets_client.post(f"/{name}/v1/entries", json={"entries": entries}, headers=HEADERS)
    assert added.status_code == 201, added.json
    assert datasets_client.post(f"/{name}/v1/publish", headers=HEADERS).status_code == 200
    return name


def test_a_user_defined_type_is_used_by_entries_and_by_an_experiment_with_the_offline_model(
    datasets_client, experiments_client, county_sheet
):
    dataset = county_dataset(datasets_client, county_sheet, [501, 502])
    version = datasets_client.get(f"/{dataset}/v1", headers=HEADERS).json
    assert {e["form_type"] for e in version["entries"]} == {county_sheet.ref}
    for entry in version["entries"]:
        assert [(c["rule"], c["status"]) for c in entry["checks"]] == [(rule, "pass") for rule in USER_RULES]
    body = {
        "name": "county sheets",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "typed", "model": "tesseract", "form_type": county_sheet.name},
            {"name": "entry", "model": "tesseract"},
            {"name": "generic", "model": "tesseract", "form_type": "generic@1"},
        ],
        "evaluators": ["consistency", "vote_count_accuracy"],
        "concurrency": 2,
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    experiment_id = started.json["experiment_id"]
    status = wait_done(experiments_client, experiment_id)
    results = experiments_client.get(f"/{experiment_id}/results", headers=HEADERS)

    assert status["status"] == "completed", status
    assert {v["name"]: v.get("form_type") for v in status["variants"]} == {
        "typed": county_sheet.name,  # stored as given, resolved by each run
        "entry": None,
        "generic": "generic@1",
    }
    assert_matches_contract("/experiments/{experiment_id}/results", "GET", 200, results.json)
    runs = results.json["items"]
    assert len(runs) == 6
    wanted = {
        "typed": (county_sheet.ref, USER_RULES),
        "entry": (county_sheet.ref, USER_RULES),
        "generic": ("generic@1", GENERIC_RULES),
    }
    for run in runs:
        form_type, rules = wanted[run["variant"]]
        assert run["status"] == "succeeded", run
        assert run["form_type"] == form_type, run
        consistency = next(e for e in run["evaluations"] if e["label"] == "consistency")
        assert consistency["details"]["form_type"] == form_type
        assert [c["rule"] for c in consistency["details"]["checks"]] == rules, consistency
        if rules == USER_RULES:  # the offline model reads no spoilt or issued papers: that rule says so
            assert (
                consistency["assessment"] == "fail"
                and "issued_covers_all cannot be checked" in consistency["reasoning"]
            )
        accuracy = next(e for e in run["evaluations"] if e["label"] == "vote_count_accuracy")
        assert {"statistics.valid_votes", "statistics.spoilt_papers", "statistics.papers_issued"} <= set(
            accuracy["details"]["fields"]
        )

    # The per-field breakdown names each of the paper's statistics.
    compared = experiments_client.get(f"/{experiment_id}/compare?a=generic&b=typed", headers=HEADERS).json
    assert {"statistics.valid_votes", "statistics.spoilt_papers", "statistics.papers_issued"} <= set(
        compared["per_field"]
    )
    report = experiments_client.get(f"/{experiment_id}/report", headers=HEADERS).get_data(as_text=True)
    assert "statistics.spoilt_papers" in report and "statistics.papers_issued" in report


def test_an_unknown_form_type_on_a_variant_is_a_422_naming_it_and_nothing_starts(
    datasets_client, experiments_client, county_sheet
):
    dataset = county_dataset(datasets_client, county_sheet, [503])
    body = {
        "name": "typo",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "ok", "model": "tesseract"},
            {"name": "typo", "model": "tesseract", "form_type": "ng_ec8"},
        ],
    }

    refused = experiments_client.post("/", json=body, headers=HEADERS)
    hostile = experiments_client.post(
        "/", json=body | {"variants": [{"name": "x", "model": "tesseract", "form_type": "../x"}]}, headers=HEADERS
    )
    too_new = experiments_client.post(
        "/",
        json=body | {"variants": [{"name": "x", "model": "tesseract", "form_type": f"{county_sheet.name}@2"}]},
        headers=HEADERS,
    )

    for response in (refused, hostile, too_new):
        assert response.status_code == 422, response.json
        assert_matches_contract("/experiments", "POST", 422, response.json)
    assert refused.json["error"]["details"]["field"] == "variants[1].form_type"
    assert "ng_ec8" in refused.json["error"]["message"]
    assert f"{county_sheet.name}@2" in too_new.json["error"]["message"]
    assert experiments_client.get(f"/?dataset={dataset}", headers=HEADERS).json["items"] == []


@pytest.fixture
def shards_topic(local_stack, configure):
    """A fresh shards topic nothing consumes: the schedule tests look at what was started."""
    from google.cloud import pubsub_v1

    topic = f"shards-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=publisher.topic_path(local_stack.project, topic))
    configure(SHARDS_TOPIC=topic)
    return topic


def schedule_body(dataset: str, **changes) -> dict:
    return {
        "schedule_id": f"typed-{uuid.uuid4().hex[:6]}",
        "interval_minutes": 60,
        "dataset": {"name": dataset, "version": "latest"},
        "variants": [
            {"name": "ocr", "model": "tesseract"},
            {"name": "acta", "model": "tesseract", "form_type": "bo_acta@1"},
        ],
        "evaluators": ["consistency"],
    } | changes


def stored_schedule_ids() -> list[str]:
    return [s.id for s in firestore_client().collection("experiment_schedules").stream()]


def test_a_schedule_stores_its_form_type_and_its_experiments_read_as_it(
    clean_firestore, datasets_client, experiments_client, scheduled_client, shards_topic, county_sheet
):
    dataset = county_dataset(datasets_client, county_sheet, [504])
    body = schedule_body(dataset, form_type="ke_34a")

    created = experiments_client.post("/schedules", json=body, headers=HEADERS)

    assert created.status_code == 201, created.json
    assert_matches_contract("/experiments/schedules", "POST", 201, created.json)
    schedule_id = created.json["schedule_id"]
    assert created.json["form_type"] == "ke_34a"
    assert experiments_client.get(f"/schedules/{schedule_id}", headers=HEADERS).json["form_type"] == "ke_34a"
    stamp = {SLOT_TIME: dt.datetime.now(dt.UTC).replace(minute=5, second=0, microsecond=0).isoformat()}
    triggered = scheduled_client.post("/", headers=HEADERS | stamp)
    assert triggered.status_code == 200 and len(triggered.json["started"]) == 1, triggered.json
    experiment = experiments_client.get(f"/{triggered.json['started'][0]['experiment_id']}", headers=HEADERS).json
    # The variant that names none reads as the schedule's type; the other keeps its own.
    assert {v["name"]: v["form_type"] for v in experiment["variants"]} == {"ocr": "ke_34a", "acta": "bo_acta@1"}

    patched = experiments_client.patch(
        f"/schedules/{schedule_id}", json={"form_type": county_sheet.name}, headers=HEADERS
    )
    assert patched.status_code == 200 and patched.json["form_type"] == county_sheet.name, patched.json


def test_a_schedule_with_an_unknown_form_type_is_refused_and_nothing_is_stored(
    clean_firestore, datasets_client, experiments_client, county_sheet
):
    dataset = county_dataset(datasets_client, county_sheet, [505])

    unknown = experiments_client.post("/schedules", json=schedule_body(dataset, form_type="ke_34b"), headers=HEADERS)
    in_a_variant = experiments_client.post(
        "/schedules",
        json=schedule_body(dataset, variants=[{"name": "ocr", "model": "tesseract", "form_type": "zz@1"}]),
        headers=HEADERS,
    )

    assert unknown.status_code == 422, unknown.json
    assert unknown.json["error"]["details"]["field"] == "form_type" and "ke_34b" in unknown.json["error"]["message"]
    assert in_a_variant.status_code == 422 and in_a_variant.json["error"]["details"]["field"] == "variants[0].form_type"
    assert stored_schedule_ids() == []

    made = experiments_client.post("/schedules", json=schedule_body(dataset, form_type="ng_ec8a"), headers=HEADERS)
    assert made.status_code == 201, made.json
    changed = experiments_client.patch(
        f"/schedules/{made.json['schedule_id']}", json={"form_type": "ng_ec8z"}, headers=HEADERS
    )
    assert changed.status_code == 422 and "ng_ec8z" in changed.json["error"]["message"], changed.json
    assert (
        experiments_client.get(f"/schedules/{made.json['schedule_id']}", headers=HEADERS).json["form_type"] == "ng_ec8a"
    )
