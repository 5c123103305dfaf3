"""A schedule's trend and experiments side by side, through the gateway over HTTP.

Three scheduled runs go through the whole local stack (the trigger as Cloud Scheduler sends it,
shards through the Pub/Sub emulator to experiments-worker): the Gemini stand-in reads every form
right for the first, gets every vote count wrong for the second (a regression, and a quality
below the schedule's floor) and right again for the third. Each run's baseline is the one before.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from infra.local.emulators import reset_firestore
from infra.local.scheduler import tick as scheduler_tick
from shared.synthetic.forms import generate_form
from tests.fakes.gemini_server import extraction_reply
from tests.integration.builders import HEADERS, published_dataset
from tests.integration.processes import start_shard_pipeline
from tests.openapi_contract import assert_matches_contract

SCHEDULE_ID = "nightly-trend"
QUALITY_FLOOR = 0.9
EVALUATORS = ["vote_count_accuracy", "vote_count_exact"]


@dataclass
class ScheduledRuns:
    url: str
    run_ids: list[str]  # oldest first
    two_variant_id: str


def wait_finished(url: str, experiment_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answered = requests.get(f"{url}/experiments/{experiment_id}", headers=HEADERS, timeout=30)
        if answered.status_code == 200 and answered.json()["status"] in ("completed", "failed"):
            return answered.json()
        assert time.monotonic() < deadline, answered.text
        time.sleep(0.5)


def miscounted(truth: dict) -> dict:
    """The form read with every vote count off by seven."""
    wrong = copy.deepcopy(truth)
    for result in wrong["vote_results"]:
        result["vote_count"] += 7
    return wrong


@pytest.fixture(scope="module")
def scheduled_runs(local_stack, fake_gemini, datasets_client, tmp_path_factory) -> Iterator[ScheduledRuns]:
    reset_firestore(local_stack.firestore_host, local_stack.project)
    fake_gemini.reset()
    process, url, _ = start_shard_pipeline(tmp_path_factory.mktemp("trend-gateway"), local_stack.project)
    try:
        dataset, truths = published_dataset(datasets_client, [generate_form(900 + i) for i in range(8)])
        quality = {"good": True}

        def reader(request):
            truth = truths[request.images[0].data]
            return extraction_reply(truth if quality["good"] else miscounted(truth))

        fake_gemini.set_responder(reader)
        schedule = {
            "schedule_id": SCHEDULE_ID,
            "interval_minutes": 60,
            "dataset": {"name": dataset, "version": "latest"},
            "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
            "evaluators": EVALUATORS,
            "concurrency": 4,
            "thresholds": {"min_quality": QUALITY_FLOOR},
        }
        created = requests.post(f"{url}/experiments/schedules", json=schedule, headers=HEADERS, timeout=30)
        assert created.status_code == 201, created.text
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        run_ids = []
        for hour, good in enumerate((True, False, True)):
            quality["good"] = good
            [started] = scheduler_tick(url, HEADERS["X-API-Key"], start + dt.timedelta(hours=hour))["started"]
            assert wait_finished(url, started["experiment_id"])["status"] == "completed"
            run_ids.append(started["experiment_id"])
        quality["good"] = True
        two = requests.post(
            f"{url}/experiments",
            json={
                "name": "two variants",
                "dataset": {"name": dataset, "version": "v1"},
                "variants": [
                    {"name": "flash", "model": "gemini-2.5-flash"},
                    {"name": "pro", "model": "gemini-2.5-pro"},
                ],
                "evaluators": EVALUATORS,
            },
            headers=HEADERS,
            timeout=60,
        )
        assert two.status_code == 202, two.text
        assert wait_finished(url, two.json()["experiment_id"])["status"] == "completed"
        yield ScheduledRuns(url, run_ids, two.json()["experiment_id"])
    finally:
        process.stop()
        fake_gemini.set_responder(None)
        reset_firestore(local_stack.firestore_host, local_stack.project)


def get(url: str, path: str, **params) -> requests.Response:
    return requests.get(f"{url}{path}", params=params, headers=HEADERS, timeout=60)


def test_the_trend_shows_each_run_its_verdict_the_threshold_and_the_alerts(scheduled_runs):
    answered = get(scheduled_runs.url, f"/experiments/schedules/{SCHEDULE_ID}/trend")

    assert answered.status_code == 200, answered.text
    trend = answered.json()
    assert_matches_contract("/experiments/schedules/{schedule_id}/trend", "GET", 200, trend)
    accuracy = trend["metrics"]["vote_count_accuracy"]
    assert accuracy["threshold"] == QUALITY_FLOOR and accuracy["higher_is_better"] is True
    assert [p["experiment_id"] for p in accuracy["points"]] == scheduled_runs.run_ids  # oldest first
    first, worse, recovered = accuracy["points"]
    assert first["mean"] == 1.0 and worse["mean"] < QUALITY_FLOOR and recovered["mean"] == 1.0
    assert worse["ci_low"] <= worse["mean"] <= worse["ci_high"] and worse["n"] == 8
    assert [p["verdict"] for p in accuracy["points"]] == [None, "worse", "better"]  # none before the first
    assert [p["alert"] for p in accuracy["points"]] == [False, True, False]
    exact = trend["metrics"]["vote_count_exact"]
    assert exact["threshold"] is None
    assert [p["verdict"] for p in exact["points"]] == [None, "worse", "better"]

    alerts = get(scheduled_runs.url, "/experiments/alerts", experiment_id=scheduled_runs.run_ids[1]).json()["items"]
    assert {a["kind"] for a in alerts} == {"regression", "quality_below_target"}


def test_the_trend_reads_the_newest_runs_of_one_metric(scheduled_runs):
    answered = get(
        scheduled_runs.url, f"/experiments/schedules/{SCHEDULE_ID}/trend", metric="vote_count_exact", limit=2
    )

    assert answered.status_code == 200, answered.text
    assert list(answered.json()["metrics"]) == ["vote_count_exact"]
    points = answered.json()["metrics"]["vote_count_exact"]["points"]
    assert [p["experiment_id"] for p in points] == scheduled_runs.run_ids[1:]


def test_three_experiments_side_by_side_against_the_first(scheduled_runs):
    first, worse, recovered = scheduled_runs.run_ids
    answered = get(scheduled_runs.url, "/experiments/compare", ids=f"{first},{worse},{recovered}")

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert_matches_contract("/experiments/compare", "GET", 200, body)
    assert [e["experiment_id"] for e in body["experiments"]] == [first, worse, recovered]
    assert body["baseline"] == {"experiment_id": first, "columns": [first]}
    assert set(body["metrics"]["vote_count_accuracy"]) == {first, worse, recovered}
    assert body["metrics"]["vote_count_accuracy"][worse]["mean"] < QUALITY_FLOOR
    versus = body["vs_baseline"]["vote_count_exact"]
    assert set(versus) == {worse, recovered}  # the baseline is not compared with itself
    assert versus[worse]["verdict"] == "worse" and versus[worse]["delta"] == -1.0
    assert versus[recovered]["verdict"] == "no_significant_difference" and versus[recovered]["delta"] == 0.0


def test_an_experiment_with_two_variants_gives_a_column_per_variant(scheduled_runs):
    first, worse, _ = scheduled_runs.run_ids
    two = scheduled_runs.two_variant_id
    answered = get(scheduled_runs.url, "/experiments/compare", ids=f"{two},{worse},{first}", baseline=worse)

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert [c["column"] for c in body["columns"]] == [f"{two}:flash", f"{two}:pro", worse, first]
    assert body["baseline"]["experiment_id"] == worse
    versus = body["vs_baseline"]["vote_count_exact"]
    assert {column: v["verdict"] for column, v in versus.items()} == {
        f"{two}:flash": "better",
        f"{two}:pro": "better",
        first: "better",
    }


def test_a_scheduled_run_s_report_draws_its_schedule_s_trend(scheduled_runs):
    first, worse, recovered = scheduled_runs.run_ids
    page = get(scheduled_runs.url, f"/experiments/{worse}/report")

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    trend = page.text.split(f"<h2>Trend of schedule {SCHEDULE_ID}</h2>", 1)[1].split("<h2>", 1)[0]
    accuracy = trend.split("<figcaption>vote_count_accuracy</figcaption>", 1)[1].split("</figure>", 1)[0]
    assert accuracy.count("class='threshold'") == 1  # the schedule's floor, 0.9
    assert accuracy.count("class='worse'") == 1 and accuracy.count("class='better'") == 1
    assert accuracy.count("class='none'") == 1  # the first run had no baseline
    assert accuracy.count("class='alert'") == 1 and accuracy.count("class='current'") == 1
    assert f"{first} to {recovered}" in accuracy
    assert "<script" not in page.text and "http" not in trend  # self-contained

    unscheduled = get(scheduled_runs.url, f"/experiments/{scheduled_runs.two_variant_id}/report")
    assert unscheduled.status_code == 200 and "Trend" not in unscheduled.text


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/experiments/schedules/no-such-schedule/trend", {}, 404, "No schedule"),
        (f"/experiments/schedules/{SCHEDULE_ID}/trend", {"limit": "0"}, 422, "limit"),
        (f"/experiments/schedules/{SCHEDULE_ID}/trend", {"limit": "many"}, 422, "limit"),
        (f"/experiments/schedules/{SCHEDULE_ID}/trend", {"metric": "nothing_measured"}, 422, "measure no metric"),
        (f"/experiments/schedules/{SCHEDULE_ID}/trend", {"metric": "<script>"}, 422, "metric"),
        (f"/experiments/schedules/{SCHEDULE_ID}/trend", {"since": "x"}, 422, "Unknown query"),
        ("/experiments/compare", {}, 400, "2 to 10"),
        ("/experiments/compare", {"ids": "one"}, 400, "2 to 10"),
        ("/experiments/compare", {"ids": ",".join(f"e{i}" for i in range(11))}, 400, "2 to 10"),
        ("/experiments/compare", {"ids": "RUN0,RUN0"}, 400, "twice"),
        ("/experiments/compare", {"ids": "RUN0,never-made"}, 404, "No experiment 'never-made'"),
        ("/experiments/compare", {"ids": "RUN0,../etc"}, 404, "No experiment"),
        ("/experiments/compare", {"ids": "RUN0,RUN1", "baseline": "RUN2"}, 400, "not one of ids"),
    ],
)
def test_bad_requests_get_a_sentence(scheduled_runs, path, params, status, words):
    ids = {f"RUN{i}": run_id for i, run_id in enumerate(scheduled_runs.run_ids)}
    for name, value in params.items():
        for placeholder, run_id in ids.items():
            value = value.replace(placeholder, run_id)
        params[name] = value

    answered = get(scheduled_runs.url, path, **params)

    assert answered.status_code == status, answered.text
    message = answered.json()["error"]["message"]
    assert words in message and message.endswith("."), message
