"""`llm_judge`: its params (a bad one is a 422), its labels, the answers it accepts and refuses, its
cost, and one call end to end against the local Gemini stand-in (Gemini cannot be reached here)."""

from __future__ import annotations

import json

import pytest

from shared.config import Settings
from shared.errors import InvalidField
from shared.evaluation import EvaluatorContext, create_evaluator, parse_online_judges, run_evaluators
from shared.evaluation.llm_judge import (
    ESTIMATED_JUDGE_INPUT_TOKENS,
    ESTIMATED_JUDGE_OUTPUT_TOKENS,
    MAX_RUBRIC_CHARS,
    evaluations_cost_usd,
)
from shared.evaluation.ragas_metrics import NO_KEY_REASON, NO_OUTPUT_REASON
from shared.experiments.estimate import evaluation_cost_per_run_usd
from shared.experiments.plan import evaluator_specs
from shared.llm.pricing import estimated_cost_usd
from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult
from tests.fakes.gemini_server import FakeGeminiServer, text_reply

RUBRIC = "Every candidate on the form is listed with a vote count, and the counts add up to the valid votes."


def extraction() -> VoteExtraction:
    return VoteExtraction(
        form=FormInfo(constituency_name="Riverside", constituency_code="042"),
        vote_results=[
            VoteResult(candidate_name="Amina Okafor", party="PDP", vote_count=120),
            VoteResult(candidate_name="John Smith", party="APC", vote_count=80),
        ],
        ballot_stats=BallotStats(valid_votes=200, rejected_ballots=5, total_ballots=205),
    )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"rubric": ""},
        {"rubric": 5},
        {"rubric": "x" * (MAX_RUBRIC_CHARS + 1)},
        {"rubric": RUBRIC, "output": "stars"},
        {"rubric": RUBRIC, "output": "categorical", "classes": ["only"], "pass_classes": ["only"]},
        {"rubric": RUBRIC, "output": "categorical", "classes": ["a", "a"], "pass_classes": ["a"]},
        {"rubric": RUBRIC, "output": "categorical", "classes": ["a", "b"]},
        {"rubric": RUBRIC, "output": "categorical", "classes": ["a", "b"], "pass_classes": ["c"]},
        {"rubric": RUBRIC, "output": "categorical", "classes": "ab", "pass_classes": ["a"]},
        {"rubric": RUBRIC, "output": "boolean", "classes": ["a", "b"]},
        {"rubric": RUBRIC, "pass_threshold": 6},
        {"rubric": RUBRIC, "pass_threshold": 3.5},
        {"rubric": RUBRIC, "pass_threshold": True},
        {"rubric": RUBRIC, "model": "gpt-4o"},
        {"rubric": RUBRIC, "model": "gemini/../../x"},
        {"rubric": RUBRIC, "label": "Has Space"},
        {"rubric": RUBRIC, "label": "a.b"},
        {"rubric": RUBRIC, "temperature": 0.7},
        {"rubric": RUBRIC, "settings": "anything"},
    ],
    ids=[
        "no-rubric",
        "empty-rubric",
        "rubric-not-text",
        "rubric-too-long",
        "unknown-output",
        "one-class",
        "duplicate-classes",
        "no-pass-classes",
        "pass-class-not-a-class",
        "classes-a-string",
        "classes-for-boolean",
        "threshold-above-5",
        "threshold-not-integer",
        "threshold-boolean",
        "not-gemini",
        "hostile-model",
        "label-with-space",
        "label-with-dot",
        "temperature-is-fixed",
        "settings-not-a-param",
    ],
)
def test_bad_params_are_invalid_fields(params):
    with pytest.raises(InvalidField) as raised:
        evaluator_specs([{"llm_judge": params}])
    assert raised.value.status == 422 and "llm_judge" in raised.value.message


def test_two_judges_need_distinct_labels():
    with pytest.raises(InvalidField, match="llm_judge_legible"):
        evaluator_specs(
            [
                {"llm_judge": {"rubric": RUBRIC, "label": "legible"}},
                {"llm_judge": {"rubric": "other", "label": "legible"}},
            ]
        )
    with pytest.raises(InvalidField, match="'llm_judge'"):
        evaluator_specs([{"llm_judge": {"rubric": RUBRIC}}, {"llm_judge": {"rubric": "other"}}])

    specs = evaluator_specs(
        [{"llm_judge": {"rubric": RUBRIC, "label": "legible"}}, {"llm_judge": {"rubric": "other", "label": "sums"}}]
    )

    labels = [create_evaluator(s["name"], s["params"]).evaluation_label for s in specs]
    assert labels == ["llm_judge_legible", "llm_judge_sums"]


def test_the_metric_type_follows_the_output_kind():
    kinds = {
        output: create_evaluator("llm_judge", {"rubric": RUBRIC, "output": output, **extra}).result_metric_type
        for output, extra in [
            ("score", {}),
            ("boolean", {}),
            ("categorical", {"classes": ["good", "bad"], "pass_classes": ["good"]}),
        ]
    }
    assert kinds == {"score": "score", "boolean": "boolean", "categorical": "categorical"}


def judge(**params):
    return create_evaluator("llm_judge", {"rubric": RUBRIC, **params})


@pytest.mark.parametrize(
    ("params", "answer", "value", "assessment"),
    [
        ({}, {"reasoning": "all there", "value": 5}, 5, "pass"),
        ({}, {"reasoning": "one missing", "value": 3}, 3, "fail"),
        ({"pass_threshold": 3}, {"reasoning": "one missing", "value": 3.0}, 3, "pass"),
        ({"output": "boolean"}, {"reasoning": "fine", "value": True}, True, "pass"),
        ({"output": "boolean"}, {"reasoning": "no", "value": False}, False, "fail"),
        (
            {"output": "categorical", "classes": ["good", "fair", "bad"], "pass_classes": ["good", "fair"]},
            {"reasoning": "ok", "value": "fair"},
            "fair",
            "pass",
        ),
        (
            {"output": "categorical", "classes": ["good", "fair", "bad"], "pass_classes": ["good"]},
            {"reasoning": "poor", "value": "bad"},
            "bad",
            "fail",
        ),
    ],
)
def test_an_answer_gives_value_reasoning_and_pass_fail(params, answer, value, assessment):
    evaluator = judge(**params)

    read, reasoning = evaluator.read_answer(json.dumps(answer), {})

    assert read == value and type(read) is type(value) and reasoning == answer["reasoning"]
    assert evaluator.assessment(read) == assessment


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({}, None),
        ({}, "The output looks right to me."),
        ({}, "[5]"),
        ({}, json.dumps({"reasoning": "fine"})),
        ({}, json.dumps({"value": 4})),
        ({}, json.dumps({"reasoning": "fine", "value": 0})),
        ({}, json.dumps({"reasoning": "fine", "value": 6})),
        ({}, json.dumps({"reasoning": "fine", "value": 4.5})),
        ({}, json.dumps({"reasoning": "fine", "value": "5"})),
        ({}, json.dumps({"reasoning": "fine", "value": True})),
        ({"output": "boolean"}, json.dumps({"reasoning": "fine", "value": "yes"})),
        (
            {"output": "categorical", "classes": ["a", "b"], "pass_classes": ["a"]},
            json.dumps({"reasoning": "x", "value": "c"}),
        ),
    ],
)
def test_a_malformed_or_out_of_range_answer_is_refused_with_its_text_kept(params, text):
    with pytest.raises(ValueError, match="the judge's answer") as raised:
        judge(**params).read_answer(text, {"usage": {"input_tokens": 10}})

    assert raised.value.evaluation_details["usage"] == {"input_tokens": 10}
    assert raised.value.evaluation_details["answer"] == (text or "")[:500]


def test_without_a_key_or_an_output_the_judge_skips():
    no_key = create_evaluator("llm_judge", {"rubric": RUBRIC}, settings=Settings(gemini_api_key=""))
    a_key = create_evaluator(
        "llm_judge", {"rubric": RUBRIC}, settings=Settings(gemini_api_key="k", gemini_base_url="http://127.0.0.1:9")
    )

    skipped_no_key = no_key.evaluate(EvaluatorContext(output=extraction()))
    skipped_no_output = a_key.evaluate(EvaluatorContext(output=None, error="model failed"))

    assert skipped_no_key.details == {"skipped": True} and skipped_no_key.reasoning == NO_KEY_REASON
    assert skipped_no_output.details == {"skipped": True} and skipped_no_output.reasoning == NO_OUTPUT_REASON


def test_the_estimated_cost_per_run_prices_the_judge_model():
    settings = Settings(llm_judge_model="gemini-2.5-pro")
    specs = evaluator_specs(["vote_count_exact", {"llm_judge": {"rubric": RUBRIC}}])

    cost = evaluation_cost_per_run_usd(specs, settings)

    expected = estimated_cost_usd(
        "gemini-2.5-pro", ESTIMATED_JUDGE_INPUT_TOKENS + len(RUBRIC) // 4, ESTIMATED_JUDGE_OUTPUT_TOKENS
    )
    assert cost == pytest.approx(expected) and cost > 0
    assert evaluation_cost_per_run_usd(evaluator_specs(["vote_count_exact"]), settings) == 0


BAD_ONLINE_JUDGES = (
    "{",
    "{}",
    "[1]",
    json.dumps([{"rubric": RUBRIC}, {"rubric": RUBRIC}]),
    json.dumps([{"label": "x"}]),
)


def test_online_judges_are_checked_where_they_are_built():
    settings = Settings(gemini_api_key="k")
    judges = parse_online_judges(
        json.dumps([{"label": "a", "rubric": RUBRIC}, {"label": "b", "rubric": RUBRIC, "output": "boolean"}]),
        settings=settings,
    )
    assert [j.evaluation_label for j in judges] == ["llm_judge_a", "llm_judge_b"]
    assert all(j.settings is settings for j in judges)
    assert parse_online_judges("") == []
    for bad in BAD_ONLINE_JUDGES:
        with pytest.raises(ValueError, match="ONLINE_JUDGES"):
            parse_online_judges(bad)


@pytest.mark.parametrize("bad", BAD_ONLINE_JUDGES)
def test_a_bad_online_judges_setting_stops_the_extraction_service_saying_why(bad):
    from shared.evaluation.online_judges import online_evaluators

    settings = Settings(online_judges=bad)  # read as text: the judges are checked where they are built

    with pytest.raises(ValueError, match="^ONLINE_JUDGES"):
        online_evaluators(settings)  # what the extract function's wiring builds its service with


def test_a_judge_built_without_settings_is_named_but_its_run_fails_saying_how_to_build_it():
    unwired = create_evaluator("llm_judge", {"rubric": RUBRIC, "label": "complete"})

    [evaluation] = run_evaluators([unwired], EvaluatorContext(output=extraction()))

    assert evaluation.label == "llm_judge_complete" and evaluation.value is None
    assert "built without settings" in evaluation.error and "settings=" in evaluation.error


def test_a_judge_call_through_the_gemini_stand_in():
    """Against the local Gemini stand-in: the request (rubric, truth, docs, output, temperature 0,
    JSON schema), then value, reasoning, pass/fail, tokens and cost; a malformed answer after it is a
    recorded failure that still counts its tokens."""
    output = extraction()
    ctx = EvaluatorContext(output=output, expected=output, input={"reference_docs": "Riverside: 200 valid votes."})
    with FakeGeminiServer() as server:
        settings = Settings(gemini_api_key="k", gemini_base_url=server.base_url, gemini_retry_attempts=1)
        evaluator = create_evaluator("llm_judge", {"rubric": RUBRIC, "label": "complete"}, settings=settings)
        server.enqueue(
            text_reply(
                json.dumps({"reasoning": "Both candidates, sums match.", "value": 4}),
                prompt_tokens=700,
                output_tokens=40,
            ),
            text_reply("<<not json>>", prompt_tokens=690, output_tokens=12),
        )

        good, bad = run_evaluators([evaluator, evaluator], ctx)
        [request, _] = server.generate_requests

    prompt = "\n".join(request.texts)
    assert RUBRIC in prompt and "Riverside: 200 valid votes." in prompt and '"Amina Okafor"' in prompt
    assert request.model == "gemini-2.5-flash"
    config = request.generation_config
    assert config["temperature"] == 0 and config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) == {"reasoning", "value"}
    assert (good.label, good.metric_type, good.value, good.assessment) == ("llm_judge_complete", "score", 4, "pass")
    assert good.reasoning == "Both candidates, sums match." and good.error is None
    assert good.details["usage"] == {"input_tokens": 700, "output_tokens": 40, "total_tokens": 740}
    assert good.details["cost_usd"] == pytest.approx(estimated_cost_usd("gemini-2.5-flash", 700, 40))
    assert bad.label == "llm_judge_complete" and bad.value is None and bad.assessment is None
    assert bad.error.startswith("JudgeAnswerInvalid: the judge's answer is not JSON")
    assert bad.details["usage"]["input_tokens"] == 690 and bad.details["answer"] == "<<not json>>"
    assert evaluations_cost_usd([good, bad]) == pytest.approx(
        estimated_cost_usd("gemini-2.5-flash", 700, 40) + estimated_cost_usd("gemini-2.5-flash", 690, 12)
    )


def test_an_unknown_parameter_is_named_in_a_sentence_with_the_ones_accepted():
    from shared.errors import InvalidField
    from shared.evaluation import create_evaluator

    with pytest.raises(InvalidField) as refused:
        create_evaluator("llm_judge", {"rubric": "All candidates present.", "temperature": 0.7})

    assert refused.value.message.startswith("Evaluator 'llm_judge' has no parameter 'temperature'; its parameters are ")
    assert "rubric" in refused.value.details["parameters"] and refused.value.details["unknown"] == ["temperature"]
