"""The pages' logic with Streamlit's AppTest (no browser) against a real gateway process."""

from __future__ import annotations

import pytest
import requests
from streamlit.testing.v1 import AppTest

from infra.local.emulators import free_ports
from tests.console.conftest import API_KEY, page_path

pytestmark = pytest.mark.integration
TIMEOUT_S = 120


def run_page(name: str, **state: str) -> AppTest:
    # From the console's entry script, as Streamlit serves it (page links are relative to it).
    app = AppTest.from_file(page_path("../app.py"), default_timeout=TIMEOUT_S)
    app.switch_page(f"pages/{name}")
    for key, value in state.items():  # e.g. which tab is open
        app.session_state[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def feedback_count(api_url: str, extraction_id: str) -> int:
    answer = requests.get(
        f"{api_url}/feedback", params={"extraction_id": extraction_id}, headers={"X-API-Key": API_KEY}, timeout=30
    )
    answer.raise_for_status()
    return len(answer.json()["items"])


def test_sample_form_extracted_and_feedback_sent_once(console_env: str) -> None:
    app = run_page("1_Vote_Extractor.py")

    app.button(key="sample").click().run()
    app.button(key="go").click().run()

    record = app.session_state["current"]
    assert record["status"] == "succeeded" and record["result"]["vote_results"]
    app.radio(key="current-thumbs").set_value("👎 Poor")  # a form's widgets are sent with its submit
    submit = next(button for button in app.button if button.label == "Submit feedback")
    submit.click().run()
    assert not app.exception, app.exception
    assert feedback_count(console_env, record["extraction_id"]) == 1
    assert any("feedback is recorded" in success.value for success in app.success)

    app.run()  # a rerun does not send it again
    assert feedback_count(console_env, record["extraction_id"]) == 1


def test_a_file_that_is_not_an_image_gets_the_apis_sentence(console_env: str) -> None:
    app = run_page("1_Vote_Extractor.py")

    app.file_uploader(key="upload").set_value(("form.png", b"this is not an image", "image/png")).run()
    app.button(key="go").click().run()

    assert not app.exception, app.exception
    [error] = [error.value for error in app.error]
    assert error.startswith("The extraction failed:") and "image" in error.lower()
    assert "current" not in app.session_state


def test_review_queue_claims_and_skips(console_env: str) -> None:
    from tests.browser.test_console_flows import thumbs_down_extraction

    record, _ = thumbs_down_extraction(console_env, seed=9101)
    app = run_page("2_Review_Queue.py")
    app.text_input(key="reviewer").set_value("lin").run()
    app.selectbox(key="claim-named").set_value(record["extraction_id"]).run()
    app.button(key="claim-this").click().run()
    assert not app.exception, app.exception
    assert app.session_state["held_claim"]["item"]["extraction_id"] == record["extraction_id"]

    skip = next(button for button in app.button if button.label == "Skip")
    skip.click().run()
    assert "held_claim" not in app.session_state
    assert any("skip" in success.value for success in app.success)


def test_dataset_manager_lists_versions(console_env: str) -> None:
    requests.post(
        f"{console_env}/datasets", json={"name": "apptest", "version": "v1"}, headers={"X-API-Key": API_KEY}, timeout=30
    )
    app = run_page("3_Dataset_Manager.py")
    labels = app.selectbox(key="chosen-version").options
    assert "apptest@v1" in labels


def test_experiments_start_form_offers_the_apis_evaluators_and_estimates(console_env: str) -> None:
    from infra.local.seed_dataset import seed

    seed(console_env, API_KEY, 4)
    app = run_page("4_Experiments.py", **{"experiments-tab": "Start an experiment"})

    evaluators = app.multiselect(key="new-evaluators")
    assert "vote_count_accuracy" in evaluators.options and "vote_count_accuracy" in evaluators.value
    app.selectbox(key="new-dataset").set_value("demo_forms@v1").run()
    app.button(key="estimate").click().run()
    assert not app.exception, app.exception
    [plan_line] = [info.value for info in app.info if "estimated cost" in info.value]
    entries = requests.get(f"{console_env}/datasets/demo_forms/v1", headers={"X-API-Key": API_KEY}, timeout=30).json()[
        "entry_count"
    ]
    assert plan_line.startswith(f"{2 * entries} runs, estimated cost $0.0000")  # two tesseract variants


def test_a_rubric_judge_configured_on_the_page_is_in_the_planned_experiment(console_env: str) -> None:
    from infra.local.seed_dataset import seed

    seed(console_env, API_KEY, 4)
    app = run_page("4_Experiments.py", **{"experiments-tab": "Start an experiment"})
    assert "llm_judge" not in app.multiselect(key="new-evaluators").options  # it needs a rubric: the form below
    app.selectbox(key="new-dataset").set_value("demo_forms@v1").run()
    app.checkbox(key="judge-on").check().run()
    app.text_input(key="judge-label").set_value("names").run()
    app.radio(key="judge-output").set_value("categorical").run()
    app.multiselect(key="judge-passing").set_value([]).run()
    assert any("one passing class" in warning.value for warning in app.warning)  # a sentence, no request

    app.multiselect(key="judge-passing").set_value(["right", "partly"]).run()
    app.button(key="estimate").click().run()

    assert not app.exception, app.exception
    [plan_line] = [info.value for info in app.info if "estimated cost" in info.value]
    planned = app.session_state["plan"][1]
    assert "llm_judge" in planned["evaluators"]
    # The page's variants are tesseract, which is free: what the plan costs is the judge's calls.
    assert planned["estimated_cost_usd"] > 0 and not plan_line.startswith(
        f"{planned['progress']['total']} runs, estimated cost $0.0000"
    )


def test_unreachable_api_is_a_banner(monkeypatch: pytest.MonkeyPatch) -> None:
    [port] = free_ports(1)
    monkeypatch.setenv("API_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("API_KEY", API_KEY)
    for name in ("1_Vote_Extractor.py", "2_Review_Queue.py", "3_Dataset_Manager.py", "4_Experiments.py"):
        app = run_page(name)
        assert any("API unreachable" in error.value for error in app.error), name


def test_review_queue_highlights_the_fields_a_second_reading_disagreed_on(console_env: str) -> None:
    from google.cloud import firestore

    from shared.storage.clients import firestore_client
    from tests.browser.test_console_flows import thumbs_down_extraction

    record, _ = thumbs_down_extraction(console_env, seed=9102)
    first = record["result"]["vote_results"][0]
    field = f"vote_results[{first['candidate_name']}].vote_count"
    # What the extract service stages for a failed cross check (tests/integration/test_cross_check.py
    # makes one end to end); the gateway here runs with the cross check off.
    firestore_client().collection("review_items").document(record["extraction_id"]).update(
        {
            "reasons": firestore.ArrayUnion(["cross_check"]),
            "reason_flags.cross_check": True,
            "cross_check_fields": [
                {"field": field, "primary": first["vote_count"], "second": 4321, "why": "counts differ"}
            ],
        }
    )
    app = run_page("2_Review_Queue.py")
    app.text_input(key="reviewer").set_value("lin").run()
    app.selectbox(key="claim-named").set_value(record["extraction_id"]).run()
    app.button(key="claim-this").click().run()

    assert not app.exception, app.exception
    [warning] = [w.value for w in app.warning if "second reading" in w.value]
    assert "disagrees on 1 field" in warning
    tables = [t.value for t in app.table]
    rows = [row for table in tables if "second reading" in table.columns for row in table.to_dict("records")]
    assert rows == [
        {"field": field, "this extraction": first["vote_count"], "second reading": 4321, "why": "counts differ"}
    ]


def test_a_click_after_a_lost_answer_gets_the_extraction_already_made(
    console_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first click's request reaches the API and its answer is lost (as on a dropped
    connection): the page shows a sentence, and the next click gets that extraction, not a second."""
    import api_client

    sent_keys: list[str] = []
    real_request = api_client.ApiClient.request

    def answer_lost_once(self, method, path, **kwargs):
        answer = real_request(self, method, path, **kwargs)
        if method == "POST" and path == "/extract":
            sent_keys.append(kwargs["headers"]["Idempotency-Key"])
            if len(sent_keys) == 1:
                raise api_client.ApiUnreachable(self.base_url, "the connection dropped")
        return answer

    monkeypatch.setattr(api_client.ApiClient, "request", answer_lost_once)
    app = run_page("1_Vote_Extractor.py")
    app.button(key="sample").click().run()

    app.button(key="go").click().run()
    assert not app.exception, app.exception
    assert "current" not in app.session_state and app.error  # the lost answer is a sentence
    app.button(key="go").click().run()
    again = app.session_state["current"]
    app.button(key="go").click().run()  # answered: a new click reads the form anew
    anew = app.session_state["current"]

    assert sent_keys[0] == sent_keys[1] != sent_keys[2]
    assert again["idempotency_key"] == sent_keys[0]
    made = requests.get(f"{console_env}/extract/{again['extraction_id']}", headers={"X-API-Key": API_KEY}, timeout=30)
    assert made.status_code == 200 and made.json()["span_id"] == again["span_id"]
    assert anew["extraction_id"] != again["extraction_id"]
