"""Accuracy and speed of the offline OCR model on synthetic forms.

    python -m bench.ocr_accuracy [--forms N] [--seed S] [--workers W]

Prints one row per condition: how many forms, the share of vote counts read exactly (each
candidate's votes plus valid, rejected and total), the share of forms read fully exactly, and the
mean seconds read_form took per form. The "deskew off" and "lines kept" rows repeat a degraded
condition with one preprocessing step switched off, to show what it is worth.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context

from shared.evaluation.matching import compare_extractions
from shared.llm.ocr.reader import read_form
from shared.synthetic import DEVELOPMENT_LAYOUTS, HOLDOUT_LAYOUTS, Degradation, generate_form


@dataclass(frozen=True)
class Condition:
    """One row of the table: which forms, how degraded, and the reader's switches."""

    label: str
    layouts: tuple[str, ...]
    degradation: Degradation
    deskew: bool = True
    remove_lines: bool = True


@dataclass
class ConditionResult:
    condition: Condition
    forms: int = 0
    correct: int = 0
    counts: int = 0
    exact_forms: int = 0
    seconds: list[float] = field(default_factory=list)


CONDITIONS: tuple[Condition, ...] = (
    Condition("clean", DEVELOPMENT_LAYOUTS, Degradation()),
    Condition("rotation 3°", DEVELOPMENT_LAYOUTS, Degradation(rotation_deg=3.0)),
    Condition("blur 1.5", DEVELOPMENT_LAYOUTS, Degradation(blur_sigma=1.5)),
    Condition("JPEG 60 + scale 0.8", DEVELOPMENT_LAYOUTS, Degradation(jpeg_quality=60, scale=0.8)),
    Condition("holdout clean", HOLDOUT_LAYOUTS, Degradation()),
    Condition("holdout rotation 2° + blur 1.0", HOLDOUT_LAYOUTS, Degradation(rotation_deg=2.0, blur_sigma=1.0)),
    Condition("rotation 3°, deskew off", DEVELOPMENT_LAYOUTS, Degradation(rotation_deg=3.0), deskew=False),
    Condition("rotation 3°, lines kept", DEVELOPMENT_LAYOUTS, Degradation(rotation_deg=3.0), remove_lines=False),
    Condition("blur 1.5, deskew off", DEVELOPMENT_LAYOUTS, Degradation(blur_sigma=1.5), deskew=False),
    Condition("blur 1.5, lines kept", DEVELOPMENT_LAYOUTS, Degradation(blur_sigma=1.5), remove_lines=False),
)


def _read_one(job: tuple[int, Condition, int]) -> tuple[int, int, int, float]:
    """(condition index, correct, total, seconds) for one form."""
    seed, condition, index = job
    layout = condition.layouts[seed % len(condition.layouts)]
    form = generate_form(seed, layout=layout, degradation=condition.degradation)
    started = time.perf_counter()
    reading = read_form(form.image, deskew=condition.deskew, remove_lines=condition.remove_lines)
    seconds = time.perf_counter() - started
    correct, total = compare_extractions(reading.extraction, form.truth, fuzzy_names=False).vote_counts()
    return index, correct, total, seconds


def run(
    conditions: Sequence[Condition] = CONDITIONS,
    *,
    forms: int = 24,
    seed: int = 0,
    workers: int = 2,
) -> list[ConditionResult]:
    """Read `forms` forms per condition (the same seeds in every condition) and tally them."""
    results = [ConditionResult(condition) for condition in conditions]
    jobs = [(seed + n, condition, i) for i, condition in enumerate(conditions) for n in range(forms)]
    # spawn, not fork: forking a process that runs threads (gRPC, ddtrace, as the test session
    # does) can leave a worker holding a copied lock forever.
    with get_context("spawn").Pool(workers) as pool:
        for index, correct, total, seconds in pool.imap_unordered(_read_one, jobs, chunksize=2):
            result = results[index]
            result.forms += 1
            result.correct += correct
            result.counts += total
            result.exact_forms += int(correct == total)
            result.seconds.append(seconds)
    return results


def format_table(results: Sequence[ConditionResult]) -> str:
    header = f"{'condition':<34} {'forms':>5} {'vote counts exact':>18} {'forms exact':>12} {'s/form':>7}"
    lines = [header, "-" * len(header)]
    for r in results:
        counts = 100.0 * r.correct / r.counts if r.counts else 0.0
        exact = 100.0 * r.exact_forms / r.forms if r.forms else 0.0
        mean = sum(r.seconds) / len(r.seconds) if r.seconds else 0.0
        lines.append(f"{r.condition.label:<34} {r.forms:>5} {counts:>17.1f}% {exact:>11.1f}% {mean:>7.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forms", type=int, default=24, help="forms per condition (default 24)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(forms=args.forms, seed=args.seed, workers=args.workers)
    print(format_table(results))
    elapsed = time.perf_counter() - started
    print(f"\n{sum(r.forms for r in results)} forms in {elapsed:.0f} s with {args.workers} workers")


if __name__ == "__main__":
    main()
