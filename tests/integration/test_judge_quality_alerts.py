"""A schedule's quality threshold may name a judge (shared/experiments/schedules.py,
`measured_quality_metric`): its alert then fires on that judge's pass rate.

The Gemini stand-in answers both as the extraction model (each image's truth: every count right)
and as the judge (a low score for most forms), so only the judge can breach the threshold. The
schedule is started by the trigger function and its shard run by experiments-worker's code in
this process, over the Firestore and Pub/Sub emulators (as test_alert_thresholds does).
"""

from __future__ import annotations

import json

import pytest

from shared.experiments.shards import ShardMessage
from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from shared.wiring.experiments_worker import shard_worker
from tests.fakes.gemini_server import extraction_reply, text_reply
from tests.integration.builders import HEADERS, published_dataset
from tests.integration.test_schedules import shards_topic  # noqa: F401 (a fixture)

FIGURES = "The figures in the model output match the reference documents exactly."
FIGURES_JUDGE = {"llm_judge": {"label": "figures_match", "rubric": FIGURES, "pass_threshold": 4}}
ONLY_QUALITY = {"min_faithfulness": None, "max_evaluation_failure_rate": None, "regression": False}


def schedule_body(dataset: str, schedule_id: str, *, evaluators: list, quality_metric: str) -> dict:
    return {
        "schedule_id": schedule_id,
        "interval_minutes": 60,
        "dataset": {"name": dataset},
        "variants": [{"name": "flash", "model": "gemini-2.5-flash"}],
        "evaluators": evaluators,
        "baseline": {"policy": "none"},
        "thresholds": {"quality_metric": quality_metric, "min_quality": 0.75, **ONLY_QUALITY},
    }


@pytest.mark.integration
def test_a_schedules_alert_fires_on_the_judge_its_threshold_names(
    clean_firestore,
    shards_topic,  # noqa: F811
    datasets_client,
    experiments_client,
    scheduled_client,
    gemini,
):
    forms = [generate_form(1760 + i) for i in range(4)]
    dataset, truths = published_dataset(datasets_client, forms)
    approved = forms[0].truth.form.constituency_name  # the judge passes this form only: a pass rate of 1/4

    def model_and_judge(request):
        if request.images:
            return extraction_reply(truths[request.images[0].data])
        score = 5 if approved in "\n".join(request.texts) else 2
        return text_reply(json.dumps({"reasoning": "Compared every figure.", "value": score}))

    gemini.set_responder(model_and_judge)
    body = schedule_body(
        dataset, "judge-watch", evaluators=["vote_count_exact", FIGURES_JUDGE], quality_metric="figures_match"
    )

    created = experiments_client.post("/schedules", json=body, headers=HEADERS)
    assert created.status_code == 201, created.json
    [started] = scheduled_client.post("/", headers=HEADERS).json["started"]
    outcome = shard_worker().process(ShardMessage(started["experiment_id"], 0))

    assert outcome.outcome == "completed" and outcome.done == 4
    stored = experiments_client.get("/schedules/judge-watch", headers=HEADERS).json
    assert stored["thresholds"]["quality_metric"] == "llm_judge_figures_match"  # as summaries name it
    status = experiments_client.get(f"/{started['experiment_id']}", headers=HEADERS).json
    assert status["summary"]["flash"]["vote_count_exact"]["mean"] == 1  # the model itself was right
    alerts = experiments_client.get(f"/alerts?experiment_id={started['experiment_id']}", headers=HEADERS).json
    [alert] = alerts["items"]
    assert alert["kind"] == "quality_below_target"
    assert alert["details"] | {"means": None} == {"metric": "llm_judge_figures_match", "target": 0.75, "means": None}
    assert alert["details"]["means"] == {"flash": 0.25}
    assert "llm_judge_figures_match pass rate below the target 0.75" in alert["message"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("evaluators", "quality_metric", "said"),
    [
        (["vote_count_exact", FIGURES_JUDGE], "figures_mtch", "llm_judge_figures_match"),
        (["vote_count_exact"], "figures_match", "not a metric these evaluators produce"),
        (
            [
                {
                    "llm_judge": {
                        "label": "sums",
                        "rubric": "Classify how the candidate votes relate to the valid votes.",
                        "output": "categorical",
                        "classes": ["equal", "short", "over"],
                        "pass_classes": ["equal"],
                    }
                }
            ],
            "sums",
            "categorical judge",
        ),
    ],
    ids=["misspelt-judge-label", "judge-not-in-the-schedule", "categorical-judge"],
)
def test_a_quality_metric_no_evaluator_scores_is_refused_with_a_sentence(
    clean_firestore, datasets_client, experiments_client, evaluators, quality_metric, said
):
    dataset, _ = published_dataset(datasets_client, [generate_form(1770)])
    body = schedule_body(dataset, "judge-typo", evaluators=evaluators, quality_metric=quality_metric)

    refused = experiments_client.post("/schedules", json=body, headers=HEADERS)

    assert refused.status_code == 422, refused.json
    assert said in refused.json["error"]["message"]
    assert list(firestore_client().collection("experiment_schedules").stream()) == []
