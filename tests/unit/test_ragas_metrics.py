"""Ragas metrics as evaluators: the non-LLM ones on real ragas, the Gemini ones' skips, and a
Gemini one end to end against the local Gemini stand-in."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rapidfuzz.distance import Levenshtein

from shared.config import Settings
from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.ragas_metrics import (
    NO_DOCS_REASON,
    NO_EXPECTED_REASON,
    NO_KEY_REASON,
    RagasAnswerRelevancy,
    RagasContextPrecision,
    RagasFaithfulness,
    canonical_json,
    canonical_text,
    is_skipped,
)
from shared.models import BallotStats, FormInfo, VoteExtraction, VoteResult
from tests.fakes.gemini_server import FakeGeminiServer, ScriptedReply

ROOT = Path(__file__).resolve().parents[2]
DOCS = "Riverside results: Amina Okafor (PDP) 120 votes.\n\nJohn Smith (APC) 80 votes; 5 ballots rejected."


def truth() -> VoteExtraction:
    return VoteExtraction(
        form=FormInfo(constituency_name="Riverside", constituency_code="042"),
        vote_results=[
            VoteResult(candidate_name="Amina Okafor", party="PDP", vote_count=120),
            VoteResult(candidate_name="John Smith", party="APC", vote_count=80),
        ],
        ballot_stats=BallotStats(valid_votes=200, rejected_ballots=5, total_ballots=205),
    )


def evaluate(label: str, output: VoteExtraction | None):
    return run_evaluators([create_evaluator(label)], EvaluatorContext(output=output, expected=truth()))[0]


def similarity(a: str, b: str) -> float:
    return 1 - Levenshtein.normalized_distance(a, b)


def test_name_similarity_is_the_mean_over_expected_candidates_and_a_missing_one_scores_zero():
    typo = truth()
    typo.vote_results[1].candidate_name = "Jon Smith"
    missing = truth()
    del missing.vote_results[1]

    perfect = evaluate("ragas_name_similarity", truth())
    with_typo = evaluate("ragas_name_similarity", typo)
    with_missing = evaluate("ragas_name_similarity", missing)

    assert (perfect.value, perfect.assessment) == (1.0, "pass")
    assert with_typo.value == pytest.approx((1 + similarity("John Smith", "Jon Smith")) / 2, abs=1e-6)
    assert with_typo.details["per_candidate"]["John Smith"] == pytest.approx(0.9)
    assert with_missing.value == pytest.approx(0.5)
    assert evaluate("ragas_name_similarity", None).value == 0.0


def test_party_similarity_scores_stated_parties_and_a_missing_party_as_zero():
    misread = truth()
    misread.vote_results[0].party = "PD"
    misread.vote_results[1].party = None

    result = evaluate("ragas_party_similarity", misread)

    assert result.value == pytest.approx((similarity("PDP", "PD") + 0) / 2, abs=1e-6)
    assert result.assessment == "fail"


def test_rouge_and_exact_match_ignore_candidate_order_but_not_a_wrong_count():
    reordered = truth()
    reordered.vote_results.reverse()
    miscounted = truth()
    miscounted.vote_results[0].vote_count = 12

    assert evaluate("ragas_rouge", reordered).value == 1.0
    assert evaluate("ragas_exact_match", reordered).value is True
    assert evaluate("ragas_rouge", miscounted).value < 1.0
    assert evaluate("ragas_exact_match", miscounted).value is False
    assert evaluate("ragas_rouge", None).value == 0.0


def test_canonical_renderings_are_stable():
    reordered = truth()
    reordered.vote_results.reverse()

    assert canonical_text(reordered) == canonical_text(truth())
    assert "Candidate Amina Okafor (PDP): 120 votes" in canonical_text(truth())
    assert json.loads(canonical_json(reordered)) == truth().model_dump(mode="json")


def test_non_llm_metric_runs_inside_a_running_event_loop():
    evaluator = create_evaluator("ragas_name_similarity")
    ctx = EvaluatorContext(output=truth(), expected=truth())

    async def on_the_loop():
        return evaluator.evaluate(ctx)

    assert asyncio.run(on_the_loop()).value == 1.0


NO_KEY = Settings(gemini_api_key="", gemini_use_vertex=False)
A_KEY = Settings(gemini_api_key="test-key", gemini_base_url="http://127.0.0.1:9")  # never contacted


@pytest.mark.parametrize("metric", [RagasFaithfulness, RagasAnswerRelevancy, RagasContextPrecision])
def test_llm_metrics_skip_with_the_reason_when_no_gemini_key_is_configured(metric):
    ctx = EvaluatorContext(output=truth(), expected=truth(), input={"reference_docs": DOCS})

    [evaluation] = run_evaluators([metric(settings=NO_KEY)], ctx)

    assert evaluation.value is None and evaluation.assessment is None and evaluation.error is None
    assert evaluation.reasoning == NO_KEY_REASON
    assert is_skipped(evaluation.details)


@pytest.mark.parametrize("metric", [RagasFaithfulness, RagasAnswerRelevancy, RagasContextPrecision])
def test_llm_metrics_skip_saying_what_to_add_when_the_entry_has_no_reference_docs(metric):
    ctx = EvaluatorContext(output=truth(), expected=truth(), input={})

    result = metric(settings=A_KEY).evaluate(ctx)

    assert result.value is None and result.details == {"skipped": True}
    assert result.reasoning == NO_DOCS_REASON and "add reference_docs" in result.reasoning


def test_context_precision_skips_without_an_expected_output():
    ctx = EvaluatorContext(output=truth(), expected=None, input={"reference_docs": DOCS})

    result = RagasContextPrecision(settings=A_KEY).evaluate(ctx)

    assert (result.value, result.reasoning) == (None, NO_EXPECTED_REASON)


def test_a_failing_judge_is_a_recorded_failure_not_a_skip():
    with FakeGeminiServer(
        responder=lambda request: ScriptedReply(
            status=400, body={"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}
        )
    ) as server:
        settings = Settings(gemini_api_key="test-key", gemini_base_url=server.base_url, gemini_retry_attempts=1)
        ctx = EvaluatorContext(output=truth(), expected=truth(), input={"reference_docs": DOCS})

        [evaluation] = run_evaluators([RagasFaithfulness(settings=settings)], ctx)

    assert evaluation.value is None and evaluation.error
    assert not is_skipped(evaluation.details)


def _function_call(name: str, args: dict) -> ScriptedReply:
    return ScriptedReply(
        body={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"functionCall": {"name": name, "args": args}}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        }
    )


def _judge(request) -> ScriptedReply:
    """Answers ragas' structured prompts (instructor sends each as one function to call)."""
    name = request.body["tools"][0]["functionDeclarations"][0]["name"]
    if name == "StatementGeneratorOutput":
        return _function_call(name, {"statements": ["Amina Okafor got 120 votes.", "Li Wei got 15 votes."]})
    if name == "NLIStatementOutput":
        verdicts = [
            {"statement": "Amina Okafor got 120 votes.", "reason": "in the docs", "verdict": 1},
            {"statement": "Li Wei got 15 votes.", "reason": "not in the docs", "verdict": 0},
        ]
        return _function_call(name, {"statements": verdicts})
    return _function_call(name, {"reason": "unexpected prompt", "verdict": 0})


def test_faithfulness_through_the_gemini_stand_in_is_the_share_of_supported_statements():
    with FakeGeminiServer(responder=_judge) as server:
        settings = Settings(gemini_api_key="test-key", gemini_base_url=server.base_url, gemini_retry_attempts=1)
        ctx = EvaluatorContext(output=truth(), expected=truth(), input={"reference_docs": DOCS})

        result = RagasFaithfulness(settings=settings).evaluate(ctx)
        prompts = [r.body for r in server.generate_requests]

    assert (result.value, result.assessment) == (0.5, "fail")
    assert result.details["judge_model"] == "gemini-2.5-flash"
    assert len(prompts) == 2 and "Candidate Amina Okafor (PDP): 120 votes" in json.dumps(prompts[0])
    assert "5 ballots rejected" in json.dumps(prompts[1])  # the reference docs are the context
    assert prompts[0]["systemInstruction"]["parts"][0]["text"].strip()  # a system prompt is sent


def test_importing_the_evaluation_module_does_not_import_ragas():
    probe = (
        "import sys, json, shared.evaluation; "
        "print(json.dumps([m for m in ('ragas', 'instructor', 'google.genai', 'langchain_core') "
        "if m in sys.modules]))"
    )

    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(completed.stdout) == []
