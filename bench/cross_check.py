"""How many wrong extractions the consistency check and the cross check catch, on rough forms.

    python -m bench.cross_check [--forms N] [--seed S] [--workers W] [--layouts all|development|holdout] [--list]
    python -m bench.cross_check --cost [--forms N] [--seed S]

Generates N forms (default 100, seeded: the same arguments give the same forms), each degraded as
a phone photo: tilted 1-2.5 degrees, blurred (sigma 1.1-1.5), saved as JPEG quality 55; layouts
rotate through every development and holdout layout. The primary reader is deliberately weak:
tesseract without preprocessing (no deskew, table lines kept). The second reader is tesseract
with preprocessing (the cross check's reader for such an extraction). An extraction is right
when `vote_count_exact` passes against the form's truth (every count, no extra or missing row).

Prints the detection table: wrong extractions flagged / missed and right extractions flagged, by
`consistency` alone, `cross_check` alone, and either; then the seconds each reader took per
form. `--list` also prints every wrong extraction a check missed and every right one a check
flagged, with the exactness reasoning and the disagreeing fields.

`--cost` measures what the cross check adds to one extract request, one form at a time (default
10 forms), with the extract path's own reading pipeline (`shared.reading`)
around the primary call: the client's wait (wall time) and the CPU time of this process and its
Tesseract subprocesses, cross check off against on. Two paths: tesseract (preprocessing on; no
Gemini key, so the second reader is `tesseract-alternate`), and Gemini (a simulated
gemini-2.5-flash: the local stand-in answering after `--gemini-latency-ms`, default 3000) with
tesseract as the second reader.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import get_context

from shared.evaluation import EvaluatorContext, create_evaluator, run_evaluators
from shared.evaluation.cross_check import compare_readings
from shared.llm.ocr.reader import read_form
from shared.synthetic import DEVELOPMENT_LAYOUTS, HOLDOUT_LAYOUTS, Degradation, generate_form

LAYOUT_CHOICES = {
    "all": DEVELOPMENT_LAYOUTS + HOLDOUT_LAYOUTS,
    "development": DEVELOPMENT_LAYOUTS,
    "holdout": HOLDOUT_LAYOUTS,
}


@dataclass(frozen=True)
class FormOutcome:
    """One form: was the primary right, what each check said, and how long each reader took."""

    seed: int
    layout: str
    degradation: Degradation
    right: bool
    exact_reasoning: str
    consistency_flag: bool
    consistency_reasoning: str
    cross_check_flag: bool
    disagreements: tuple[str, ...]
    primary_s: float
    second_s: float


def rough_degradation(seed: int) -> Degradation:
    """The form's photo: tilt 1-2.5 degrees either way, blur sigma 1.1-1.5, JPEG quality 55."""
    rng = random.Random(f"cross-check-bench:{seed}")
    tilt = rng.uniform(1.0, 2.5) * rng.choice((-1, 1))
    return Degradation(rotation_deg=round(tilt, 2), blur_sigma=round(rng.uniform(1.1, 1.5), 2), jpeg_quality=55)


def check_form(job: tuple[int, str]) -> FormOutcome:
    seed, layout = job
    degradation = rough_degradation(seed)
    form = generate_form(seed, layout=layout, degradation=degradation)
    started = time.perf_counter()
    primary = read_form(form.image, deskew=False, remove_lines=False).extraction
    primary_s = time.perf_counter() - started
    started = time.perf_counter()
    second = read_form(form.image).extraction
    second_s = time.perf_counter() - started
    exact, consistency = run_evaluators(
        [create_evaluator("vote_count_exact"), create_evaluator("consistency")],
        EvaluatorContext(output=primary, expected=form.truth),
    )
    comparison = compare_readings(primary, second)
    return FormOutcome(
        seed=seed,
        layout=layout,
        degradation=degradation,
        right=exact.value is True,
        exact_reasoning=exact.reasoning or "",
        consistency_flag=consistency.value is False,
        consistency_reasoning=consistency.reasoning or "",
        cross_check_flag=bool(comparison.disagreements),
        disagreements=tuple(d.sentence() for d in comparison.disagreements),
        primary_s=primary_s,
        second_s=second_s,
    )


def run(*, forms: int = 100, seed: int = 0, workers: int = 2, layouts: str = "all") -> list[FormOutcome]:
    chosen = LAYOUT_CHOICES[layouts]
    jobs = [(seed + n, chosen[n % len(chosen)]) for n in range(forms)]
    # spawn, not fork: a forked copy of a threaded process can hold a lock forever.
    with get_context("spawn").Pool(workers) as pool:
        return sorted(pool.imap_unordered(check_form, jobs), key=lambda outcome: outcome.seed)


def _share(part: int, whole: int) -> str:
    return f"{part:>3} ({100.0 * part / whole:5.1f}%)" if whole else f"{part:>3} (  n/a )"


def detection_table(outcomes: Sequence[FormOutcome]) -> str:
    wrong = [o for o in outcomes if not o.right]
    right = [o for o in outcomes if o.right]
    checks = {
        "consistency alone": lambda o: o.consistency_flag,
        "cross_check alone": lambda o: o.cross_check_flag,
        "consistency or cross_check": lambda o: o.consistency_flag or o.cross_check_flag,
    }
    header = f"{'check':<28} {'wrong flagged':>15} {'wrong missed':>15} {'right flagged':>15}"
    lines = [
        f"{len(outcomes)} forms: {len(wrong)} wrong extractions, {len(right)} right (primary: tesseract "
        "without preprocessing; second reader: tesseract with preprocessing)",
        header,
        "-" * len(header),
    ]
    for label, flagged in checks.items():
        caught = sum(1 for o in wrong if flagged(o))
        false_alarms = sum(1 for o in right if flagged(o))
        lines.append(
            f"{label:<28} {_share(caught, len(wrong)):>15} {_share(len(wrong) - caught, len(wrong)):>15} "
            f"{_share(false_alarms, len(right)):>15}"
        )
    primary = sum(o.primary_s for o in outcomes) / len(outcomes) if outcomes else 0.0
    second = sum(o.second_s for o in outcomes) / len(outcomes) if outcomes else 0.0
    lines.append(f"\nseconds per form: primary {primary:.2f}, second reader {second:.2f}")
    return "\n".join(lines)


def listing(outcomes: Sequence[FormOutcome]) -> str:
    """Every form some check got wrong: a wrong extraction a check missed, a right one flagged."""
    lines = []
    for o in outcomes:
        missed_by = [
            name
            for name, flagged in (("consistency", o.consistency_flag), ("cross_check", o.cross_check_flag))
            if flagged == o.right
        ]
        if not missed_by:
            continue
        kind = "right, flagged by " if o.right else "wrong, missed by "
        d = o.degradation
        lines.append(
            f"seed {o.seed} {o.layout} (tilt {d.rotation_deg}, blur {d.blur_sigma}): {kind}{' and '.join(missed_by)}\n"
            f"    exact: {o.exact_reasoning}\n    consistency: {o.consistency_reasoning}\n"
            f"    cross_check: {'; '.join(o.disagreements) or 'agree'}"
        )
    return "\n".join(lines) or "(every wrong extraction flagged by both checks, no right one flagged)"


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def measure_cost(*, forms: int = 10, seed: int = 0, gemini_latency_ms: float = 3000.0) -> str:
    """Wall and CPU seconds of the extract path's model step, cross check off and on, per form:
    on the tesseract path, and on the Gemini path (a simulated Gemini: the local stand-in with a
    fixed latency) with tesseract as the second reader."""
    from shared.config import Settings
    from shared.llm import get_model_client
    from shared.llm.base import ModelRequest
    from shared.reading import ONLINE_RETRIES, FormReader, run_blocking
    from shared.wiring.prompts import get_prompt

    chosen = LAYOUT_CHOICES["all"]
    prompt = get_prompt("prompt_a")
    sections = []
    with _simulated_gemini(gemini_latency_ms) as gemini_url:
        paths = {
            "tesseract": ("tesseract", {"gemini_api_key": ""}),
            "gemini": ("gemini-2.5-flash", {"gemini_api_key": "bench-key", "gemini_base_url": gemini_url}),
        }
        for path, (model_name, gemini) in paths.items():
            rows: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
            readers = set()
            for n in range(forms):
                form = generate_form(seed + n, layout=chosen[n % len(chosen)], degradation=rough_degradation(seed + n))
                for switch in ("off", "on"):
                    settings = Settings(cross_check=switch, cross_check_reader="", gemini_use_vertex=False, **gemini)
                    model = get_model_client(model_name, settings)
                    params = model.validate_params({})
                    request = ModelRequest(
                        image=form.image, content_type=form.content_type, prompt=prompt, params=params
                    )
                    reader = FormReader(settings=settings)
                    wall, cpu = time.perf_counter(), _cpu_s()
                    reading = run_blocking(
                        reader.read(
                            model,
                            request,
                            tags={},
                            timeout_s=None,
                            retry=ONLINE_RETRIES,
                            second_reader=reader.online_second_reader(model_name, params),
                        )
                    )
                    rows[switch].append((time.perf_counter() - wall, _cpu_s() - cpu))
                    if reading.second is not None:
                        readers.add(reading.second.reader)
            title = f"{path} path: primary {model_name}" + (
                f" (simulated, {gemini_latency_ms:.0f} ms)" if path == "gemini" else " (preprocessing on)"
            )
            sections.append(_cost_table(f"{title}, second reader {', '.join(sorted(readers))}", rows))
    return f"{forms} rough forms, one request at a time\n\n" + "\n\n".join(sections)


def _cost_table(title: str, rows: dict[str, list[tuple[float, float]]]) -> str:
    def line(label: str, values: list[float]) -> str:
        return f"{label:<34} {statistics.mean(values):>8.2f} {statistics.median(values):>8.2f} {max(values):>8.2f}"

    off_wall, on_wall = [w for w, _ in rows["off"]], [w for w, _ in rows["on"]]
    off_cpu, on_cpu = [c for _, c in rows["off"]], [c for _, c in rows["on"]]
    header = f"{'seconds per request':<34} {'mean':>8} {'median':>8} {'max':>8}"
    return "\n".join(
        [
            title,
            header,
            "-" * len(header),
            line("client wait, cross check off", off_wall),
            line("client wait, cross check on", on_wall),
            line("added client wait", [b - a for a, b in zip(off_wall, on_wall, strict=True)]),
            line("CPU, cross check off", off_cpu),
            line("CPU, cross check on", on_cpu),
            line("added CPU", [b - a for a, b in zip(off_cpu, on_cpu, strict=True)]),
        ]
    )


@contextlib.contextmanager
def _simulated_gemini(latency_ms: float) -> Iterator[str]:
    """The local Gemini stand-in in its own process (off this one's GIL), answering after `latency_ms`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fakes.gemini_server", "--port", str(port), "--latency-ms", str(latency_ms)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the Gemini stand-in did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--forms", type=int, default=None, help="forms (default 100; with --cost 10)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--layouts", choices=sorted(LAYOUT_CHOICES), default="all", help="layouts (default all)")
    parser.add_argument("--list", action="store_true", help="list the forms a check missed or flagged falsely")
    parser.add_argument("--cost", action="store_true", help="measure the cross check's cost per request instead")
    parser.add_argument(
        "--gemini-latency-ms", type=float, default=3000.0, help="the simulated Gemini's latency with --cost"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.cost:
        print(measure_cost(forms=args.forms or 10, seed=args.seed, gemini_latency_ms=args.gemini_latency_ms))
        print(f"\nmeasured in {time.perf_counter() - started:.0f} s")
        return
    outcomes = run(forms=args.forms or 100, seed=args.seed, workers=args.workers, layouts=args.layouts)
    print(detection_table(outcomes))
    if args.list:
        print("\n" + listing(outcomes))
    print(f"\n{len(outcomes)} forms in {time.perf_counter() - started:.0f} s with {args.workers} workers")


if __name__ == "__main__":
    main()
