"""The prompt registry end to end (issue 14): versions through the API, an experiment of two
versions, labels that move what extract uses, immutability, and bad input.

Gemini is the local generateContent stand-in (fixture `gemini`; no Gemini is reachable from here,
in production the same adapter talks to Gemini); Firestore, Pub/Sub and the Datadog test agent
are the real emulators.
"""

from __future__ import annotations

import base64
import statistics
import threading
import time
import uuid

import pytest

from shared.prompts import BUILTIN_PROMPTS, PromptRegistry
from shared.storage.clients import firestore_client
from shared.storage.prompts import FirestorePromptRepository
from shared.synthetic.forms import generate_form
from shared.wiring.prompts import forget_cached_prompts
from tests.conftest import TEST_API_KEY
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import published_dataset, truth_responder, wait_done
from tests.openapi_contract import assert_matches_contract

HEADERS = {"X-API-Key": TEST_API_KEY}
NEW_B = "Read every row of the election result form in the image, digit by digit. " + BUILTIN_PROMPTS["prompt_b"]


@pytest.fixture
def fresh_prompts(clean_firestore):
    """Firestore empty and the instance's prompt cache forgotten: prompt_a and prompt_b are seeded
    again at first use, as in a new project."""
    forget_cached_prompts()
    yield
    forget_cached_prompts()


def new_version(experiments_client, name: str, template: str, **fields):
    return experiments_client.post("/prompts", json={"name": name, "template": template, **fields}, headers=HEADERS)


def extract_with(extract_client, form, **fields):
    body = {"image_base64": base64.b64encode(form.image).decode(), **fields}
    return extract_client.post("/", json=body, headers=HEADERS)


@pytest.mark.integration
def test_built_in_prompts_are_seeded_once_as_version_1_with_the_production_label(experiments_client, fresh_prompts):
    first = experiments_client.get("/prompts", headers=HEADERS)
    forget_cached_prompts()  # another instance starting: it seeds again, create-if-absent
    second = experiments_client.get("/prompts", headers=HEADERS)

    assert first.status_code == second.status_code == 200, first.json
    assert_matches_contract("/experiments/prompts", "GET", 200, first.json)
    for listing in (first.json, second.json):
        by_name = {item["name"]: item for item in listing["items"]}
        assert {"prompt_a", "prompt_b"} <= set(by_name)
        assert by_name["prompt_b"]["latest_version"] == 1 and by_name["prompt_b"]["labels"] == {"production": 1}
    described = experiments_client.get("/prompts/prompt_b", headers=HEADERS).json
    assert [v["ref"] for v in described["versions"]] == ["prompt_b@1"]
    one = experiments_client.get("/prompts/prompt_b/1", headers=HEADERS)
    assert one.status_code == 200 and one.json["template"] == BUILTIN_PROMPTS["prompt_b"]
    assert one.json["labels"] == ["production"] and one.json["created_by"] == "built-in"
    assert_matches_contract("/experiments/prompts/{name}/{version}", "GET", 200, one.json)


@pytest.mark.integration
def test_prompt_b_1_against_prompt_b_2_names_the_resolved_versions_everywhere(
    datasets_client, experiments_client, gemini, clean_test_agent, fresh_prompts
):
    created = new_version(experiments_client, "prompt_b", NEW_B, model_settings={"temperature": 0.2})
    assert created.status_code == 201, created.json
    assert created.json == {"name": "prompt_b", "version": 2, "ref": "prompt_b@2"}
    assert_matches_contract("/experiments/prompts", "POST", 201, created.json)
    forms = [generate_form(1400 + i) for i in range(4)]
    dataset, truths = published_dataset(datasets_client, forms)
    gemini.set_responder(truth_responder(truths))
    body = {
        "name": "prompt b versions",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [
            {"name": "b1", "model": "gemini-2.5-flash", "prompt_version": "prompt_b@1"},
            {"name": "b2", "model": "gemini-2.5-flash", "prompt_version": "prompt_b@latest"},
        ],
        "evaluators": ["vote_count_accuracy", "schema_valid"],
    }

    started = experiments_client.post("/", json=body, headers=HEADERS)
    assert started.status_code == 202, started.json
    experiment_id = started.json["experiment_id"]
    status = wait_done(experiments_client, experiment_id)

    assert status["status"] == "completed", status
    listed = experiments_client.get("/", headers=HEADERS).json["items"]
    variants = next(item for item in listed if item["experiment_id"] == experiment_id)["variants"]
    assert {v["name"]: v["prompt_version"] for v in variants} == {"b1": "prompt_b@1", "b2": "prompt_b@2"}
    runs = experiments_client.get(f"/{experiment_id}/results", headers=HEADERS).json["items"]
    assert len(runs) == 8
    assert {(run["variant"], run["prompt_version"]) for run in runs} == {("b1", "prompt_b@1"), ("b2", "prompt_b@2")}
    sent = [request.texts[-1] for request in gemini.generate_requests]
    assert sorted(sent) == sorted([BUILTIN_PROMPTS["prompt_b"]] * 4 + [NEW_B] * 4)
    agent = clean_test_agent
    span_ids = {run["span_id"]: run["prompt_version"] for run in runs}
    spans = agent.wait_for(
        lambda: (lambda found: found if len(found) == 8 else None)(
            [span for span in agent.llmobs_spans(kind="llm") if str(span["span_id"]) in span_ids]
        )
    )
    for span in spans:
        resolved = span_ids[str(span["span_id"])]
        assert span["tag_map"]["prompt_version"] == resolved
        prompt = span["meta"]["input"]["prompt"]
        assert (prompt["id"], prompt["version"]) == ("prompt_b", resolved.rpartition("@")[2])
        assert prompt["template"] == (NEW_B if resolved == "prompt_b@2" else BUILTIN_PROMPTS["prompt_b"])


@pytest.mark.integration
def test_moving_the_production_label_changes_what_extract_uses(
    extract_client, experiments_client, gemini, fresh_prompts
):
    form = generate_form(1450)
    gemini.enqueue(*[extraction_reply(form.truth)] * 3)
    before = extract_with(extract_client, form, model="gemini-2.5-flash", prompt_version="prompt_b")
    assert new_version(experiments_client, "prompt_b", NEW_B).status_code == 201
    still = extract_with(extract_client, form, model="gemini-2.5-flash", prompt_version="prompt_b")

    moved = experiments_client.post(
        "/prompts/prompt_b/labels", json={"label": "production", "version": 2}, headers=HEADERS
    )
    after = extract_with(extract_client, form, model="gemini-2.5-flash", prompt_version="prompt_b")

    assert moved.status_code == 200, moved.json
    assert moved.json["labels"] == {"production": 2}
    assert moved.json["label_moves"]["production"]["from"] == 1
    assert_matches_contract("/experiments/prompts/{name}/labels", "POST", 200, moved.json)
    assert [r.json["prompt_version"] for r in (before, still, after)] == ["prompt_b@1", "prompt_b@1", "prompt_b@2"]
    texts = [request.texts[-1] for request in gemini.generate_requests]
    assert texts == [BUILTIN_PROMPTS["prompt_b"], BUILTIN_PROMPTS["prompt_b"], NEW_B]
    stored = extract_client.get(f"/{after.json['extraction_id']}", headers=HEADERS).json
    assert stored["prompt_version"] == "prompt_b@2"


@pytest.mark.integration
def test_a_label_moved_elsewhere_reaches_this_instance_within_the_cache_time(experiments_client, configure):
    configure(PROMPT_CACHE_S="0.5")
    name = f"cached_{uuid.uuid4().hex[:8]}"
    assert new_version(experiments_client, name, "Read the form. v1").status_code == 201
    assert new_version(experiments_client, name, "Read the form. v2").status_code == 201
    here = PromptRegistry(FirestorePromptRepository(firestore_client()), cache_s=0.5)
    elsewhere = PromptRegistry(FirestorePromptRepository(firestore_client()), cache_s=0.5)
    elsewhere.move_label(name, label="production", version=1, moved_by="test")
    assert here.resolve(name).version == f"{name}@1"

    elsewhere.move_label(name, label="production", version=2, moved_by="test")
    cached = here.resolve(name).version
    time.sleep(0.6)  # the cache's time to live, no more
    fresh = here.resolve(name).version

    assert (cached, fresh) == (f"{name}@1", f"{name}@2")


@pytest.mark.integration
def test_a_version_is_never_edited_or_deleted(experiments_client):
    name = f"frozen_{uuid.uuid4().hex[:8]}"
    assert new_version(experiments_client, name, "Read the form.").status_code == 201

    edits = [
        experiments_client.put(f"/prompts/{name}/1", json={"template": "changed"}, headers=HEADERS),
        experiments_client.patch(f"/prompts/{name}/1", json={"template": "changed"}, headers=HEADERS),
        experiments_client.delete(f"/prompts/{name}/1", headers=HEADERS),
    ]
    again = new_version(experiments_client, name, "Read the form.")

    assert [edit.status_code for edit in edits] == [409, 409, 409]
    assert all(edit.json["error"]["code"] == "conflict" for edit in edits)
    assert experiments_client.get(f"/prompts/{name}/1", headers=HEADERS).json["template"] == "Read the form."
    # The same text again is a new version: a version records an act of publishing.
    assert again.status_code == 201 and again.json["version"] == 2


@pytest.mark.integration
def test_concurrent_new_versions_get_distinct_numbers(experiments_client):
    name = f"race_{uuid.uuid4().hex[:8]}"
    repository = FirestorePromptRepository(firestore_client())
    registry = PromptRegistry(repository, cache_s=0)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            version = registry.create_version(
                name=name, template=f"Read the form. ({i})", variables=[], model_settings={}, created_by="test"
            )
            numbers.append(version.version)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4, 5]
    assert [v.version for v in repository.versions(name)] == [1, 2, 3, 4, 5]
    assert repository.head(name).latest == 5


@pytest.mark.integration
def test_diff_of_two_versions_is_a_unified_diff(experiments_client):
    name = f"diffed_{uuid.uuid4().hex[:8]}"
    new_version(experiments_client, name, "Read the form.\nReturn JSON.\n")
    new_version(
        experiments_client,
        name,
        "Read the form.\nCheck the totals.\nReturn JSON.\n{{reference_docs}}\n",
        variables=["reference_docs"],
    )
    experiments_client.post(f"/prompts/{name}/labels", json={"label": "candidate", "version": 2}, headers=HEADERS)

    diffed = experiments_client.get(f"/prompts/{name}/diff?from=1&to=candidate", headers=HEADERS)

    assert diffed.status_code == 200, diffed.json
    assert_matches_contract("/experiments/prompts/{name}/diff", "GET", 200, diffed.json)
    lines = diffed.json["diff"].splitlines()
    assert lines[:2] == [f"--- {name}@1", f"+++ {name}@2"]
    assert "+Check the totals." in lines and "+{{reference_docs}}" in lines and " Read the form." in lines
    assert diffed.json["variables"] == {"from": [], "to": ["reference_docs"]}
    assert diffed.json["same_template"] is False


@pytest.mark.integration
def test_the_resolution_cache_costs_microseconds(experiments_client):
    name = f"timed_{uuid.uuid4().hex[:8]}"
    new_version(experiments_client, name, "Read the form.")
    cached = PromptRegistry(FirestorePromptRepository(firestore_client()), cache_s=60)
    uncached = PromptRegistry(FirestorePromptRepository(firestore_client()), cache_s=0)
    cached.resolve(name)
    uncached.resolve(f"{name}@1")  # the version itself is immutable and kept; the label is read each time

    def timed(registry: PromptRegistry, rounds: int) -> float:
        took = []
        for _ in range(rounds):
            started = time.perf_counter()
            registry.resolve(name)
            took.append(time.perf_counter() - started)
        return statistics.median(took) * 1e6

    hit_us, miss_us = timed(cached, 2000), timed(uncached, 30)

    print(f"prompt label resolution: cache hit {hit_us:.1f} us, miss {miss_us:.0f} us (median)")
    assert hit_us < 100 and hit_us * 20 < miss_us


# bad input


@pytest.mark.integration
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "p_undeclared", "template": "Read {{language}} forms."}, 422),
        ({"name": "p_image", "template": "Read {{image}}.", "variables": ["image"]}, 422),
        ({"name": "p_unused", "template": "Read the form.", "variables": ["reference_docs"]}, 422),
        ({"name": "p_unknown", "template": "Read {{language}}.", "variables": ["language"]}, 422),
        ({"name": "p_bad", "template": "Read {{ two words }}."}, 422),
        ({"name": "p_empty", "template": "  "}, 422),
        ({"name": "Bad Name", "template": "Read."}, 422),
        ({"name": "../../etc", "template": "Read."}, 422),
        ({"name": "p_extra", "template": "Read.", "labels": ["production"]}, 422),
        ({"name": "p_big", "template": "x" * (64 * 1024 + 1)}, 413),
        ({"name": "p_huge", "template": "x" * (1024 * 1024)}, 413),
    ],
    ids=[
        "undeclared-variable",
        "image-variable",
        "unused-variable",
        "unfilled-variable",
        "not-a-variable",
        "empty",
        "bad-name",
        "path-name",
        "unknown-field",
        "64kb-template",
        "1mb-template",
    ],
)
def test_bad_prompt_versions_are_refused_and_store_nothing(experiments_client, body, status):
    response = experiments_client.post("/prompts", json=body, headers=HEADERS)

    assert response.status_code == status, response.json
    assert response.json["error"]["message"]
    if body["name"].replace("_", "").isalnum():
        assert experiments_client.get(f"/prompts/{body['name']}", headers=HEADERS).status_code == 404


@pytest.mark.integration
def test_unknown_prompts_and_labels_are_422_wherever_a_prompt_version_goes(
    extract_client, datasets_client, experiments_client
):
    form = generate_form(1460)
    dataset, _ = published_dataset(datasets_client, [form])
    refs = ["prompt_zz", "prompt_b@9999", "prompt_b@staging", "prompt_b@", "a@b@c", "PROMPT_B", "prompt_b@0"]

    extracts = [extract_with(extract_client, form, prompt_version=ref) for ref in refs]
    experiments = [
        experiments_client.post(
            "/",
            json={
                "name": "bad prompt",
                "dataset": {"name": dataset, "version": "v1"},
                "variants": [{"name": "x", "model": "tesseract", "prompt_version": ref}],
                "dry_run": True,
            },
            headers=HEADERS,
        )
        for ref in refs
    ]

    schedules = [
        experiments_client.post(
            "/schedules",
            json={
                "schedule_id": f"bad-prompt-{i}",
                "interval_minutes": 60,
                "dataset": {"name": dataset},
                "variants": [{"name": "x", "model": "tesseract", "prompt_version": ref}],
            },
            headers=HEADERS,
        )
        for i, ref in enumerate(refs)
    ]

    assert [r.status_code for r in schedules] == [422] * len(refs), [r.json for r in schedules]
    assert [experiments_client.get(f"/schedules/bad-prompt-{i}", headers=HEADERS).status_code for i in range(3)] == [
        404
    ] * 3
    assert [r.status_code for r in extracts] == [422] * len(refs), [r.json for r in extracts]
    assert [r.status_code for r in experiments] == [422] * len(refs), [r.json for r in experiments]
    assert all(r.json["error"]["details"]["field"] == "prompt_version" for r in extracts)


@pytest.mark.integration
def test_hostile_prompt_names_and_versions_never_get_a_5xx(experiments_client):
    hostile = ["..", "%2e%2e", "a" * 500, "__name__", "prompt_a%00", "x%0Ay", "%F0%9F%92%A3", "`rm -rf`", "a b"]
    answers = []
    for name in hostile:
        answers += [
            experiments_client.get(f"/prompts/{name}", headers=HEADERS),
            experiments_client.get(f"/prompts/{name}/1", headers=HEADERS),
            experiments_client.get(f"/prompts/prompt_a/{name}", headers=HEADERS),
            experiments_client.get(f"/prompts/{name}/diff?from=1&to={name}", headers=HEADERS),
            experiments_client.post(f"/prompts/{name}/labels", json={"label": name, "version": 1}, headers=HEADERS),
            experiments_client.post("/prompts", json={"name": name, "template": "Read."}, headers=HEADERS),
        ]
    unknown_label = experiments_client.post(
        "/prompts/prompt_a/labels", json={"label": "staging", "version": 1}, headers=HEADERS
    )
    missing_version = experiments_client.post(
        "/prompts/prompt_a/labels", json={"label": "candidate", "version": 999}, headers=HEADERS
    )

    assert all(400 <= answer.status_code < 500 for answer in answers), [
        (a.status_code, a.json) for a in answers if a.status_code >= 500 or a.status_code < 400
    ]
    assert unknown_label.status_code == 422 and missing_version.status_code == 404


@pytest.fixture
def idle_shards_topic(local_stack, configure):
    """A fresh shards topic nothing consumes: the test looks at what the schedule started."""
    from google.cloud import pubsub_v1

    topic = f"shards-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=publisher.topic_path(local_stack.project, topic))
    configure(SHARDS_TOPIC=topic)
    return topic


@pytest.mark.integration
def test_a_schedule_follows_the_label_and_each_experiment_stores_the_version_it_ran(
    fresh_prompts, datasets_client, experiments_client, scheduled_client, idle_shards_topic
):
    import datetime as dt

    dataset, _ = published_dataset(datasets_client, [generate_form(1470)])
    assert new_version(experiments_client, "prompt_b", NEW_B).status_code == 201
    body = {
        "schedule_id": "follows-production",
        "interval_minutes": 60,
        "dataset": {"name": dataset},
        "variants": [{"name": "ocr", "model": "tesseract", "prompt_version": "prompt_b@production"}],
        "evaluators": ["vote_count_accuracy"],
    }
    assert experiments_client.post("/schedules", json=body, headers=HEADERS).status_code == 201
    slot = dt.datetime.now(dt.UTC).replace(minute=5, second=0, microsecond=0)

    def start_slot(at: dt.datetime) -> list[dict]:
        stamp = {"X-CloudScheduler-ScheduleTime": at.isoformat()}
        answered = scheduled_client.post("/", headers=HEADERS | stamp)
        assert answered.status_code == 200, answered.json
        [started] = answered.json["started"]
        return firestore_client().collection("experiments").document(started["experiment_id"]).get().get("variants")

    first = start_slot(slot)
    experiments_client.post("/prompts/prompt_b/labels", json={"label": "production", "version": 2}, headers=HEADERS)
    second = start_slot(slot + dt.timedelta(hours=1))

    assert [v["prompt_version"] for v in first] == ["prompt_b@1"]
    assert [v["prompt_version"] for v in second] == ["prompt_b@2"]
    schedule = experiments_client.get("/schedules/follows-production", headers=HEADERS).json
    assert schedule["variants"][0]["prompt_version"] == "prompt_b@production"


@pytest.mark.integration
def test_the_options_list_every_version_and_label_and_extract_takes_each_ref(
    extract_client, experiments_client, gemini, fresh_prompts
):
    form = generate_form(1451)
    gemini.enqueue(*[extraction_reply(form.truth)] * 3)
    assert new_version(experiments_client, "prompt_b", NEW_B).status_code == 201
    moved = experiments_client.post(
        "/prompts/prompt_b/labels", json={"label": "candidate", "version": 2}, headers=HEADERS
    )
    assert moved.status_code == 200, moved.json

    options = extract_client.get("/options", headers=HEADERS)

    assert options.status_code == 200
    assert_matches_contract("/extract/options", "GET", 200, options.json)
    by_name = {prompt["name"]: prompt for prompt in options.json["prompts"]}
    assert set(by_name) == set(options.json["prompt_versions"])
    prompt_b = by_name["prompt_b"]
    assert prompt_b["latest_version"] == 2 and prompt_b["labels"] == {"production": 1, "candidate": 2}
    assert prompt_b["refs"] == ["prompt_b@2", "prompt_b@1", "prompt_b@candidate", "prompt_b@production"]
    used = [
        extract_with(extract_client, form, model="gemini-2.5-flash", prompt_version=ref).json["prompt_version"]
        for ref in ("prompt_b@1", "prompt_b@production", "prompt_b@candidate")
    ]
    assert used == ["prompt_b@1", "prompt_b@1", "prompt_b@2"]
