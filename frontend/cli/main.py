"""`python -m frontend.cli`: experiments and the CI gate from the command line, over the HTTP API.

    python -m frontend.cli start experiment.toml --watch
    python -m frontend.cli start --dataset demo_forms@v1 \\
        --variant on:tesseract:deskew=true,remove_lines=true \\
        --variant off:tesseract:deskew=false,remove_lines=false --watch
    python -m frontend.cli watch EXPERIMENT_ID
    python -m frontend.cli compare EXPERIMENT_ID --a on --b off [--primary METRIC]
    python -m frontend.cli compare EXPERIMENT_ID --baseline OTHER_ID
    python -m frontend.cli export EXPERIMENT_ID --format csv -o runs.csv
    python -m frontend.cli gate --dataset demo_forms@v1 --baseline on:tesseract \\
        --candidate off:tesseract:deskew=false,remove_lines=false --summary gate.md --junit gate.xml

A variant is NAME:MODEL[:PARAM=VALUE,...][@PROMPT_VERSION] (the prompt may be a label:
prompt_b@production). Base URL and key: --base-url/--api-key, else API_BASE_URL/API_KEY, else
the local gateway (http://127.0.0.1:8080, local-dev-key). Exit codes: 0 done (gate: passed),
1 the experiment failed (gate: a regression), 2 could not talk to the API or decide.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from frontend.cli.api import DEFAULT_API_KEY, DEFAULT_BASE_URL, Api, CliError
from frontend.cli.gate import UNDECIDED, GateRequest, run_gate
from frontend.cli.gate_report import junit_xml, markdown
from frontend.cli.progress import wait_for
from frontend.cli.spec_file import load_experiment
from frontend.cli.tables import comparison_table, summary_table
from frontend.cli.variants import parse_dataset, parse_floor, parse_variant


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m frontend.cli",
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[2:]),
    )
    parser.add_argument("--base-url", default=os.environ.get("API_BASE_URL") or DEFAULT_BASE_URL)
    parser.add_argument("--api-key", default=os.environ.get("API_KEY") or DEFAULT_API_KEY)
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start an experiment from a JSON/TOML file or from flags")
    start.add_argument("file", nargs="?", type=Path, help="a .json or .toml file describing the experiment")
    start.add_argument("--name")
    start.add_argument("--dataset", type=parse_dataset, help="NAME@VERSION of a published dataset")
    start.add_argument("--variant", action="append", type=parse_variant, help="repeat for each variant")
    start.add_argument("--evaluator", action="append", help="evaluator name (default: the standard set)")
    start.add_argument("--repetitions", type=int)
    start.add_argument("--concurrency", type=int)
    start.add_argument("--primary", help="the primary metric (not corrected for the others)")
    start.add_argument("--form-type", help="the form type every variant reads (default: each entry's own)")
    start.add_argument("--watch", action="store_true", help="show a progress bar until it ends, then its numbers")

    watch = commands.add_parser("watch", help="show an experiment's progress until it ends, then its numbers")
    watch.add_argument("experiment_id")

    compare = commands.add_parser("compare", help="a paired comparison, metric by metric")
    compare.add_argument("experiment_id")
    compare.add_argument("--a", help="the baseline variant")
    compare.add_argument("--b", help="the candidate variant")
    compare.add_argument("--baseline", help="a baseline experiment's id (instead of --a/--b)")
    compare.add_argument("--primary", help="the metric to mark as primary")

    export = commands.add_parser("export", help="an experiment's runs as CSV or JSON Lines, streamed")
    export.add_argument("experiment_id")
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("-o", "--output", type=Path, help="the file to write (default: stdout)")

    gate = commands.add_parser("gate", help="the CI check: exit 1 on a significant regression or an unheld floor")
    gate.add_argument("--dataset", type=parse_dataset, help="NAME@VERSION (with --baseline-experiment: its own)")
    baseline = gate.add_mutually_exclusive_group(required=True)
    baseline.add_argument("--baseline", type=parse_variant, help="the variant to beat, run beside the candidate")
    baseline.add_argument(
        "--baseline-experiment", help="a finished experiment to compare with (only the candidate runs)"
    )
    gate.add_argument("--candidate", type=parse_variant, required=True)
    gate.add_argument("--evaluator", action="append", help="evaluator name (default: the standard set)")
    gate.add_argument("--primary", help="the primary metric")
    gate.add_argument(
        "--floor", action="append", type=parse_floor, default=[], help="METRIC=VALUE the candidate's mean must reach"
    )
    gate.add_argument("--summary", type=Path, help="write the Markdown summary here (default: stdout)")
    gate.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    gate.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the experiment (default 1800)")
    gate.add_argument("--concurrency", type=int)
    gate.add_argument("--name", help="the experiment's name")
    gate.add_argument("--form-type", help="the form type the variants read, name or name@n (default: each entry's own)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    api = Api(args.base_url, args.api_key)
    try:
        return COMMANDS[args.command](api, args)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return UNDECIDED


def start_command(api: Api, args: argparse.Namespace) -> int:
    body = start_body(args)
    started = api.post("/experiments", body)
    experiment_id = started["experiment_id"]
    total = (started.get("progress") or {}).get("total", "?")
    cost = started.get("estimated_cost_usd")
    print(f"experiment {experiment_id}: {total} runs" + (f", estimated ${cost:.4f}" if cost is not None else ""))
    if not args.watch:
        return 0
    status = show_finished(api, experiment_id)
    if len(body["variants"]) == 2:
        a, b = (variant["name"] for variant in body["variants"])
        print(comparison_table(api.get(f"/experiments/{experiment_id}/compare", a=a, b=b)))
    return 0 if status["status"] == "completed" else 1


def start_body(args: argparse.Namespace) -> dict[str, Any]:
    """The file's experiment (if any) with every flag given laid over it."""
    body: dict[str, Any] = load_experiment(args.file) if args.file else {"name": "cli experiment"}
    given = {
        "name": args.name,
        "dataset": args.dataset,
        "variants": args.variant,
        "evaluators": args.evaluator,
        "repetitions": args.repetitions,
        "concurrency": args.concurrency,
        "primary_metric": args.primary,
    }
    body.update({key: value for key, value in given.items() if value is not None})
    if not body.get("dataset") or not body.get("variants"):
        raise CliError("name a dataset and at least one variant (in FILE, or with --dataset and --variant)")
    if args.form_type:
        body["variants"] = [variant | {"form_type": args.form_type} for variant in body["variants"]]
    return body


def show_finished(api: Api, experiment_id: str) -> dict[str, Any]:
    status = wait_for(api, experiment_id)
    print(summary_table(status))
    return status


def watch_command(api: Api, args: argparse.Namespace) -> int:
    return 0 if show_finished(api, args.experiment_id)["status"] == "completed" else 1


def compare_command(api: Api, args: argparse.Namespace) -> int:
    if args.baseline:
        params = {"baseline": args.baseline}
    elif args.a and args.b:
        params = {"a": args.a, "b": args.b}
    else:
        raise CliError("give --a VARIANT --b VARIANT, or --baseline EXPERIMENT_ID")
    if args.primary:
        params["primary"] = args.primary
    print(comparison_table(api.get(f"/experiments/{args.experiment_id}/compare", **params), args.primary))
    return 0


def export_command(api: Api, args: argparse.Namespace) -> int:
    chunks = api.stream(f"/experiments/{args.experiment_id}/export", format=args.format)
    if args.output is None:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return 0
    partial = args.output.with_name(args.output.name + ".partial")
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        partial.replace(args.output)  # a failed export leaves no half-written file under the name asked for
    finally:
        partial.unlink(missing_ok=True)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)", file=sys.stderr)
    return 0


def gate_command(api: Api, args: argparse.Namespace) -> int:
    request = GateRequest(
        dataset=args.dataset,
        candidate=args.candidate,
        baseline=args.baseline,
        baseline_experiment_id=args.baseline_experiment,
        evaluators=args.evaluator,
        primary=args.primary,
        floors=args.floor,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
        name=args.name,
        form_type=args.form_type,
    )
    outcome = run_gate(api, request)
    summary = markdown(outcome, base_url=api.base_url)
    if args.summary:
        args.summary.write_text(summary, encoding="utf-8")
    else:
        sys.stdout.write(summary)
    if args.junit:
        args.junit.write_text(junit_xml(outcome), encoding="utf-8")
    verdict = {0: "passed", 1: "failed: a regression", 2: "could not decide"}[outcome.exit_code]
    print(f"gate {verdict}: {outcome.reason}", file=sys.stderr)
    return outcome.exit_code


COMMANDS = {
    "start": start_command,
    "watch": watch_command,
    "compare": compare_command,
    "export": export_command,
    "gate": gate_command,
}
