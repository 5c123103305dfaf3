"""In-memory experiments for the report's tests: two variants over N records, with the outcomes
chosen record by record (so the discordant pairs are known), summarised by the real summariser."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.experiments.analysis import summarise_experiment
from shared.models import Evaluation, ExperimentRecord, RunRecord, TokenUsage, Variant

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def run(entry: int, variant: str, *, exact: bool, latency: float) -> RunRecord:
    fields = {"vote_results[0].vote_count": exact, "vote_results[1].vote_count": True, "ballot_stats.valid_votes": True}
    accuracy = sum(fields.values()) / len(fields)
    evaluations = [
        Evaluation(label="vote_count_exact", metric_type="boolean", value=exact, evaluator_version="1"),
        Evaluation(
            label="vote_count_accuracy",
            metric_type="score",
            value=accuracy,
            evaluator_version="1",
            details={"fields": fields},
        ),
        Evaluation(label="count_error", metric_type="score", value=0.0 if exact else 12.0, evaluator_version="1"),
    ]
    return RunRecord(
        run_id=f"{variant}-e{entry:03d}",
        entry_id=f"e{entry:03d}",
        variant=variant,
        repetition=0,
        status="succeeded",
        latency_ms=latency,
        usage=TokenUsage(),
        evaluations=evaluations,
        finished_at=NOW,
    )


def two_variant_experiment(
    a_passes: list[bool], b_passes: list[bool], *, a: str = "pre", b: str = "raw", name: str = "preprocessing"
) -> tuple[ExperimentRecord, list[RunRecord]]:
    """`a` then `b` (tesseract, no tokens, no cost), one run per record and variant."""
    variants = [
        Variant.model_construct(name=n, model="tesseract", prompt_version="prompt_a", params={}) for n in (a, b)
    ]
    runs = [run(i, a, exact=ok, latency=800.0 + 37 * (i % 7)) for i, ok in enumerate(a_passes)]
    runs += [run(i, b, exact=ok, latency=300.0 + 23 * (i % 5)) for i, ok in enumerate(b_passes)]
    experiment = ExperimentRecord(
        experiment_id="exp-report",
        name=name,
        dataset_name="demo_forms",
        dataset_version="v1",
        variants=variants,
        evaluators=[{"name": "vote_count_exact", "params": {}}],
        repetitions=1,
        concurrency=4,
        run_timeout_s=60.0,
        status="completed",
        created_at=NOW,
    )
    experiment.summary = summarise_experiment(experiment, runs)
    return experiment, runs


def three_discordant_of_24() -> tuple[ExperimentRecord, list[RunRecord]]:
    """pre passes 21 of 24, raw all 24: 3 discordant pairs, not enough for a verdict."""
    return two_variant_experiment([i >= 3 for i in range(24)], [True] * 24)


def a_real_difference() -> tuple[ExperimentRecord, list[RunRecord]]:
    """pre passes all 24, raw 12 of them: raw is worse, p < 0.001."""
    return two_variant_experiment([True] * 24, [i % 2 == 0 for i in range(24)])


class NoImages:
    """The image store of a report with no images (every thumbnail is "image unavailable")."""

    def get(self, uri: str) -> bytes:
        raise FileNotFoundError(uri)
