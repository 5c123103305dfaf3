"""Ragas 0.4.3 metrics as evaluators, registered by name.

Without an LLM (always available):

- `ragas_name_similarity`: mean NonLLMStringSimilarity (Levenshtein) between each expected
  candidate's name and the name read for it; an expected candidate not found scores 0.
- `ragas_party_similarity`: the same on the parties `expected` states.
- `ragas_rouge`: RougeScore (ROUGE-L F1) of the output's canonical text against the expected one.
- `ragas_exact_match`: ExactMatch of the output's canonical JSON against the expected one.

Through Gemini (a judge model), when a key is configured; otherwise each returns a skipped
result (value None, `details={"skipped": True}`, the reason in `reasoning`), which is not a
failure. The entry's `reference_docs` (`ctx.input["reference_docs"]`) are the context and the
output's canonical text is the response:

- `ragas_faithfulness`: the share of the response's statements the reference docs support.
- `ragas_answer_relevancy`: how well the response answers the task (Gemini embeddings too).
- `ragas_context_precision`: whether the reference docs are useful for the expected answer.

ragas, google-genai and instructor are heavy (ragas takes about 2 s to import), so they are
imported inside `evaluate` only: importing `shared.evaluation` stays light for `extract` and
`feedback`.

Ragas 0.4 scores asynchronously while evaluators are synchronous. `evaluate` runs its coroutine
with `asyncio.run` when no event loop runs in the calling thread (every evaluator here sets
`runs_in_thread`, so the experiment runner calls it from a worker thread through
`asyncio.to_thread`), and on a short-lived thread of its own when one does (blocking that loop
meanwhile: call evaluators off the loop).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from shared.evaluation.base import Evaluator, EvaluatorContext, EvaluatorResult, bounded, settings_given, wired
from shared.evaluation.matching import match_candidates, normalise_name
from shared.evaluation.registry import register
from shared.form_types.checks import shaped, statistics_of
from shared.form_types.model import GENERIC, FormType
from shared.form_types.resolve import GENERIC_FORM_TYPE, form_type_for_evaluation
from shared.models import VoteExtraction, VoteResult

if TYPE_CHECKING:
    from shared.config import Settings

RAGAS_EVALUATORS = (
    "ragas_name_similarity",
    "ragas_party_similarity",
    "ragas_rouge",
    "ragas_exact_match",
    "ragas_faithfulness",
    "ragas_answer_relevancy",
    "ragas_context_precision",
)
DEFAULT_JUDGE_MODEL = "gemini-2.5-flash"
DEFAULT_EMBEDDING_MODEL = "gemini-embedding-001"
NO_KEY_REASON = "skipped: no Gemini key configured (GEMINI_API_KEY or GEMINI_USE_VERTEX)"
NO_DOCS_REASON = (
    "skipped: the entry has no reference_docs; add reference_docs (the text the form's figures "
    "can be checked against, e.g. the published results) to the dataset entry"
)
NO_OUTPUT_REASON = "skipped: the model returned no output to judge"
NO_EXPECTED_REASON = "skipped: context precision needs the entry's expected_output as its reference"
_JUDGE_SYSTEM_PROMPT = (
    "You are a careful evaluator of election result extractions. Follow the instructions exactly "
    "and answer only in the requested structured format."
)

T = TypeVar("T")


def run_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from synchronous code, whether or not a loop runs here.

    Args:
        factory: builds the coroutine (called on the thread that runs it).

    Returns:
        The coroutine's result.
    """

    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragas") as pool:
        return pool.submit(asyncio.run, main()).result()


def _import_ragas_metrics() -> Any:
    # Ragas sends usage analytics unless told not to; set before its first import.
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    from ragas.metrics import collections

    return collections


@lru_cache(maxsize=1)
def _string_similarity() -> Any:
    return _import_ragas_metrics().NonLLMStringSimilarity()


@lru_cache(maxsize=1)
def _rouge() -> Any:
    return _import_ragas_metrics().RougeScore(rouge_type="rougeL", mode="fmeasure")


@lru_cache(maxsize=1)
def _exact_match() -> Any:
    return _import_ragas_metrics().ExactMatch()


# Canonical renderings: one text and one JSON per extraction, candidates in name order, so two
# extractions that say the same thing render the same whatever order the model listed them in.


def _clean(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _sorted_results(extraction: VoteExtraction) -> list[VoteResult]:
    return sorted(extraction.vote_results, key=lambda r: (normalise_name(r.candidate_name), r.candidate_name))


def _shown(value: object) -> str:
    return "unknown" if value is None or value == "" else str(value)


def canonical_text(extraction: VoteExtraction, form_type: FormType = GENERIC_FORM_TYPE) -> str:
    """The extraction as plain sentences, one a line (the response Ragas' text metrics judge):
    the type's statistics under their printed labels, in the paper's order, and the counts in
    words where the paper has them. `generic`'s labels are the three lines it always had."""
    form = extraction.form
    lines = [
        f"Constituency: {_shown(_clean(form.constituency_name))} (code {_shown(_clean(form.constituency_code))})",
        f"Form type: {_shown(_clean(form.form_type))}",
    ]
    for result in _sorted_results(extraction):
        in_words = form_type.figures_in_words and result.vote_count_words
        words = f" ({_clean(result.vote_count_words)} in words)" if in_words else ""
        lines.append(
            f"Candidate {_clean(result.candidate_name)} ({_shown(_clean(result.party))}): "
            f"{_shown(result.vote_count)} votes{words}"
        )
    lines += [f"{form_type.label(key)}: {_shown(value)}" for key, value in statistics_of(extraction, form_type).items()]
    return "\n".join(lines)


def canonical_json(extraction: VoteExtraction) -> str:
    """The extraction as compact JSON with sorted keys and candidates in name order."""
    dumped = extraction.model_dump(mode="json")
    dumped["vote_results"] = [r.model_dump(mode="json") for r in _sorted_results(extraction)]
    return json.dumps(dumped, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def labelled_json(extraction: VoteExtraction, form_type: FormType) -> str:
    """The extraction as a judge reads it: `canonical_json` in the type's shape, its statistics
    a list of {key, label as printed, value} in the paper's order instead of `ballot_stats`;
    `vote_count_words` only where the paper has them."""
    dumped = extraction.model_dump(mode="json", exclude={"ballot_stats", "statistics"})
    rows = [r.model_dump(mode="json") for r in _sorted_results(extraction)]
    if not form_type.figures_in_words:
        rows = [{name: value for name, value in row.items() if name != "vote_count_words"} for row in rows]
    dumped["vote_results"] = rows
    dumped["statistics"] = [
        {"key": key, "label": form_type.label(key), "value": value}
        for key, value in statistics_of(extraction, form_type).items()
    ]
    return json.dumps(dumped, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Metrics without an LLM.


def _mean_pair_similarity(pairs: Sequence[tuple[str, str | None]]) -> list[float]:
    """Similarity of each (expected, read) pair; a pair with nothing read scores 0."""
    metric = _string_similarity()

    async def score_all() -> list[float]:
        scores = []
        for reference, response in pairs:
            if response is None:
                scores.append(0.0)
                continue
            result = await metric.ascore(reference=reference, response=response)
            scores.append(float(result.value))
        return scores

    return run_coroutine(score_all)


@dataclass(frozen=True)
class _RagasEvaluator(Evaluator):
    # Ragas scores on CPU (and through Gemini for the judged metrics): keep it off the event loop.
    runs_in_thread = True


@dataclass(frozen=True)
class _PairSimilarity(_RagasEvaluator):
    metric_type = "score"

    pass_threshold: float = bounded(1.0, 0, 1)

    def _pairs(self, predicted: list[VoteResult], expected: list[VoteResult]) -> list[tuple[str, str, str | None]]:
        raise NotImplementedError

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        predicted = ctx.output.vote_results if ctx.output is not None else []
        labelled = self._pairs(predicted, ctx.expected.vote_results)
        if not labelled:
            return None
        scores = _mean_pair_similarity([(reference, response) for _, reference, response in labelled])
        per_candidate = {key: round(score, 4) for (key, _, _), score in zip(labelled, scores, strict=True)}
        mean = sum(scores) / len(scores)
        below = [f"{key} {score:.2f}" for key, score in per_candidate.items() if score < 1.0]
        reasoning = f"mean Levenshtein similarity {mean:.3f} over {len(scores)} expected candidates"
        if below:
            reasoning += "; below 1: " + ", ".join(below[:10]) + (" ..." if len(below) > 10 else "")
        return EvaluatorResult(
            round(mean, 6),
            reasoning=reasoning,
            assessment="pass" if mean >= self.pass_threshold else "fail",
            details={"per_candidate": per_candidate},
        )


@register
@dataclass(frozen=True)
class RagasNameSimilarity(_PairSimilarity):
    """Ragas NonLLMStringSimilarity between expected and read candidate names (whitespace
    collapsed, case kept: a transcription's case errors cost a little)."""

    name = "ragas_name_similarity"
    version = "1.0"

    def _pairs(self, predicted: list[VoteResult], expected: list[VoteResult]) -> list[tuple[str, str, str | None]]:
        return [
            (want.candidate_name, _clean(want.candidate_name), _clean(got.candidate_name) if got else None)
            for want, got in match_candidates(predicted, expected)
        ]


@register
@dataclass(frozen=True)
class RagasPartySimilarity(_PairSimilarity):
    """Ragas NonLLMStringSimilarity between expected and read parties, on candidates whose
    expected party is stated; a candidate not found, or read without a party, scores 0."""

    name = "ragas_party_similarity"
    version = "1.0"

    def _pairs(self, predicted: list[VoteResult], expected: list[VoteResult]) -> list[tuple[str, str, str | None]]:
        return [
            (want.candidate_name, _clean(want.party), _clean(got.party) if got and got.party else None)
            for want, got in match_candidates(predicted, expected)
            if _clean(want.party)
        ]


@register
@dataclass(frozen=True)
class RagasRouge(_RagasEvaluator):
    """Ragas RougeScore (ROUGE-L F1) of the output's canonical text against the expected one."""

    name = "ragas_rouge"
    version = "1.0"
    metric_type = "score"

    pass_threshold: float = bounded(1.0, 0, 1)

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        if ctx.output is None:
            return EvaluatorResult(0.0, reasoning="no output: ROUGE-L 0", assessment="fail")
        form_type = judged_form_type(ctx)
        reference, response = canonical_text(ctx.expected, form_type), canonical_text(ctx.output, form_type)
        metric = _rouge()

        async def score() -> float:
            return float((await metric.ascore(reference=reference, response=response)).value)

        value = run_coroutine(score)
        return EvaluatorResult(
            round(value, 6),
            reasoning=f"ROUGE-L F1 {value:.3f} of the canonical text against the expected one",
            assessment="pass" if value >= self.pass_threshold else "fail",
        )


@register
@dataclass(frozen=True)
class RagasExactMatch(_RagasEvaluator):
    """Ragas ExactMatch of the output's canonical JSON against the expected one: every field,
    nulls included, must be equal (candidate order does not matter). Both sides are first put in
    the form type's shape, so an expected output made before form types (no `statistics`)
    matches a reading that states the same numbers."""

    name = "ragas_exact_match"
    version = "1.1"
    metric_type = "boolean"

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        if ctx.expected is None:
            return None
        if ctx.output is None:
            return EvaluatorResult(False, reasoning="no output", assessment="fail")
        form_type = form_type_for_evaluation(ctx.metadata, ctx.expected, ctx.output)
        expected, output = shaped(ctx.expected, form_type), shaped(ctx.output, form_type)
        reference, response = canonical_json(expected), canonical_json(output)
        metric = _exact_match()

        async def score() -> float:
            return float((await metric.ascore(reference=reference, response=response)).value)

        matched = run_coroutine(score) == 1.0
        return EvaluatorResult(
            matched,
            reasoning="canonical JSON identical to the expected output" if matched else "canonical JSON differs",
            assessment="pass" if matched else "fail",
        )


# Metrics through Gemini.


def skipped(reason: str) -> EvaluatorResult:
    """The result of a metric that could not run: value None, `details["skipped"]` True.

    A skip is not a failure (an evaluator that raised is recorded with `error` set instead).
    """
    return EvaluatorResult(value=None, reasoning=reason, assessment=None, details={"skipped": True})


def is_skipped(details: Mapping[str, Any] | None) -> bool:
    """True when an evaluation's details mark a skipped metric."""
    return bool(details and details.get("skipped"))


def reference_docs(ctx: EvaluatorContext) -> list[str]:
    """The entry's reference docs as Ragas contexts: a string is split into its paragraphs."""
    docs = ctx.input.get("reference_docs")
    if isinstance(docs, str):
        return [part.strip() for part in docs.split("\n\n") if part.strip()]
    if isinstance(docs, Sequence):
        return [str(doc).strip() for doc in docs if str(doc).strip()]
    return []


def task_question(ctx: EvaluatorContext) -> str:
    """The question the extraction answers, as Ragas' `user_input`: a typed paper's own
    statistics by their printed labels (`generic` keeps the question it always asked)."""
    form = (ctx.expected or ctx.output or VoteExtraction()).form
    where = f" of constituency {_clean(form.constituency_name)}" if form.constituency_name else ""
    form_type = judged_form_type(ctx)
    if form_type.name == GENERIC:
        statistics = "valid votes, rejected ballots and total ballots"
    else:
        statistics = "; ".join(statistic.label for statistic in form_type.statistics)
    return f"Read the election result form{where}: give each candidate's party and vote count, and the {statistics}."


def judged_form_type(ctx: EvaluatorContext) -> FormType:
    """The paper the judged extraction is of (see `form_type_for_evaluation`)."""
    return form_type_for_evaluation(ctx.metadata, ctx.expected, ctx.output)


@dataclass(frozen=True)
class _GeminiRagasMetric(_RagasEvaluator):
    metric_type = "score"
    needs_output: ClassVar[bool] = True
    needs_expected: ClassVar[bool] = False

    model: str = DEFAULT_JUDGE_MODEL
    pass_threshold: float = bounded(0.7, 0, 1)
    # Handed in by whoever builds it (`create_evaluator(..., settings=)`): its Gemini configuration.
    settings: Settings | None = wired()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.model.startswith("gemini"):
            raise ValueError(f"the judge model must be a Gemini model (got {self.model!r})")

    def evaluate(self, ctx: EvaluatorContext) -> EvaluatorResult | None:
        settings = settings_given(self, self.settings)
        if not settings.gemini_configured:
            return skipped(NO_KEY_REASON)
        if self.needs_output and ctx.output is None:
            return skipped(NO_OUTPUT_REASON)
        if self.needs_expected and ctx.expected is None:
            return skipped(NO_EXPECTED_REASON)
        contexts = reference_docs(ctx)
        if not contexts:
            return skipped(NO_DOCS_REASON)
        from shared.llm.gemini import genai_client  # google-genai is heavy: not on the import path

        # The same client (endpoint, retries, timeout, Vertex or key mode) the extract path builds.
        client = genai_client(settings)
        value, reason = run_coroutine(lambda: self._score(client, ctx, contexts))
        return EvaluatorResult(
            round(value, 6),
            reasoning=reason or f"{self.name} {value:.3f} (judge {self.model})",
            assessment="pass" if value >= self.pass_threshold else "fail",
            details={"judge_model": self.model, "contexts": len(contexts)},
        )

    async def _score(self, client: Any, ctx: EvaluatorContext, contexts: list[str]) -> tuple[float, str | None]:
        raise NotImplementedError

    def _judge(self, client: Any) -> Any:
        import instructor
        from ragas.llms.base import InstructorLLM

        # Ragas renames its max_tokens to max_output_tokens, which instructor 1.17's genai handler
        # does not forward: Gemini's own output limit applies (roomy enough for thinking tokens).
        return InstructorLLM(
            client=instructor.from_genai(client, use_async=True),
            model=self.model,
            provider="google",
            system_prompt=_JUDGE_SYSTEM_PROMPT,
        )


@register
@dataclass(frozen=True)
class RagasFaithfulness(_GeminiRagasMetric):
    """Ragas Faithfulness: the share of the output's statements the reference docs support."""

    name = "ragas_faithfulness"
    version = "1.0"

    async def _score(self, client: Any, ctx: EvaluatorContext, contexts: list[str]) -> tuple[float, str | None]:
        assert ctx.output is not None
        metric = _import_ragas_metrics().Faithfulness(llm=self._judge(client))
        result = await metric.ascore(
            user_input=task_question(ctx),
            response=canonical_text(ctx.output, judged_form_type(ctx)),
            retrieved_contexts=contexts,
        )
        return float(result.value), result.reason


@register
@dataclass(frozen=True)
class RagasAnswerRelevancy(_GeminiRagasMetric):
    """Ragas AnswerRelevancy: questions generated back from the output, compared with the task
    by Gemini embeddings (`embedding_model`)."""

    name = "ragas_answer_relevancy"
    version = "1.0"

    embedding_model: str = DEFAULT_EMBEDDING_MODEL

    async def _score(self, client: Any, ctx: EvaluatorContext, contexts: list[str]) -> tuple[float, str | None]:
        assert ctx.output is not None
        from ragas.embeddings import GoogleEmbeddings

        # use_vertex stays False: the google-genai client already talks to Vertex AI when
        # configured so, and ragas' own Vertex path needs google-cloud-aiplatform.
        embeddings = GoogleEmbeddings(client=client, model=self.embedding_model)
        metric = _import_ragas_metrics().AnswerRelevancy(llm=self._judge(client), embeddings=embeddings)
        response = canonical_text(ctx.output, judged_form_type(ctx))
        result = await metric.ascore(user_input=task_question(ctx), response=response)
        return float(result.value), result.reason


@register
@dataclass(frozen=True)
class RagasContextPrecision(_GeminiRagasMetric):
    """Ragas ContextPrecision: whether the reference docs are useful for the expected answer."""

    name = "ragas_context_precision"
    version = "1.0"
    needs_output = False  # it judges the docs against the expected answer
    needs_expected = True

    async def _score(self, client: Any, ctx: EvaluatorContext, contexts: list[str]) -> tuple[float, str | None]:
        assert ctx.expected is not None
        metric = _import_ragas_metrics().ContextPrecision(llm=self._judge(client))
        result = await metric.ascore(
            user_input=task_question(ctx),
            reference=canonical_text(ctx.expected, judged_form_type(ctx)),
            retrieved_contexts=contexts,
        )
        return float(result.value), result.reason
