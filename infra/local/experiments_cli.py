"""Start an experiment against the local stack, watch it with a progress bar, print comparisons.

    python -m infra.local.experiments_cli start --dataset demo_forms@v1 \\
        --variant on:tesseract:deskew=true,remove_lines=true \\
        --variant off:tesseract:deskew=false,remove_lines=false [--repetitions 1] [--concurrency 4] \
        [--form-type ng_ec8a]
    python -m infra.local.experiments_cli watch EXPERIMENT_ID
    python -m infra.local.experiments_cli compare EXPERIMENT_ID --a off --b on
    python -m infra.local.experiments_cli compare EXPERIMENT_ID --baseline OTHER_ID

A variant is NAME:MODEL[:PARAM=VALUE,...][@PROMPT_VERSION]; --form-type (name or name@n) is the
paper every variant reads (absent: each entry's own type). Talks to the HTTP API (the gateway of
`./deploy.sh local`, or any deployment with --base-url and --api-key).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import requests


def parse_variant(text: str) -> dict[str, Any]:
    """`on:tesseract:deskew=true,remove_lines=false@prompt_b` -> a variant object."""
    text, _, prompt = text.partition("@")
    name, _, rest = text.partition(":")
    model, _, raw_params = rest.partition(":")
    if not name or not model:
        raise argparse.ArgumentTypeError(f"variant {text!r} must be NAME:MODEL[:PARAM=VALUE,...][@PROMPT]")
    params = {}
    for pair in filter(None, raw_params.split(",")):
        key, _, value = pair.partition("=")
        params[key] = json.loads(value) if value in ("true", "false") or value.replace(".", "", 1).isdigit() else value
    variant: dict[str, Any] = {"name": name, "model": model, "params": params}
    if prompt:
        variant["prompt_version"] = prompt
    return variant


def progress_bar(done: int, total: int, failed: int, width: int = 40) -> str:
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs, {failed} failed"


def watch(api: Api, experiment_id: str, *, interval_s: float = 0.5) -> dict[str, Any]:
    while True:
        status = api.get(f"/experiments/{experiment_id}")
        progress = status["progress"]
        print(
            f"\r{progress_bar(progress['done'], progress['total'], progress['failed'])} ({status['status']})",
            end="",
            flush=True,
        )
        if status["status"] in ("completed", "failed"):
            print()
            return status
        time.sleep(interval_s)


def summary_table(status: dict[str, Any]) -> str:
    lines = [f"{'variant':14s} {'metric':26s} {'mean':>8s} {'95% interval':>20s} {'n':>5s}"]
    for variant, metrics in (status.get("summary") or {}).items():
        for label, value in sorted(metrics.items()):
            if isinstance(value, dict) and "mean" in value and value["mean"] is not None:
                interval = f"[{value['ci_low']:.3f}, {value['ci_high']:.3f}]"
                lines.append(f"{variant:14s} {label:26s} {value['mean']:8.3f} {interval:>20s} {value['n']:5d}")
    return "\n".join(lines)


def comparison_table(compared: dict[str, Any]) -> str:
    lines = [
        f"a = {compared.get('a')}, b = {compared.get('b')}",
        f"{'metric':26s} {'a':>8s} {'b':>8s} {'b - a':>8s} {'95% interval':>20s} {'p':>8s}  {'test':22s} verdict",
    ]
    for label, m in sorted(compared.get("metrics", {}).items()):
        interval = f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]" if m.get("ci_low") is not None else ""
        p_value = f"{m['p_value']:.4f}" if m.get("p_value") is not None else ""
        lines.append(
            f"{label:26s} {m['a_mean']:8.3f} {m['b_mean']:8.3f} {m['delta']:8.3f} {interval:>20s} {p_value:>8s}  "
            f"{m.get('test', ''):22s} {m['verdict']}"
        )
    return "\n".join(lines)


class Api:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"X-API-Key": api_key}

    def get(self, path: str, **params: str) -> dict[str, Any]:
        return self._checked(requests.get(f"{self.base_url}{path}", params=params, headers=self.headers, timeout=60))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._checked(requests.post(f"{self.base_url}{path}", json=body, headers=self.headers, timeout=60))

    @staticmethod
    def _checked(response: requests.Response) -> dict[str, Any]:
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {})
            raise SystemExit(f"error {response.status_code} {error.get('code')}: {error.get('message')}")
        return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.experiments_cli", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("VOTE_EXTRACTOR_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--api-key", default=os.environ.get("VOTE_EXTRACTOR_API_KEY", "local-dev-key"))
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start an experiment and watch it")
    start.add_argument("--name", default="cli experiment")
    start.add_argument("--dataset", required=True, help="NAME@VERSION of a published dataset")
    start.add_argument("--variant", action="append", type=parse_variant, required=True)
    start.add_argument("--evaluator", action="append", help="evaluator name (default: the standard set)")
    start.add_argument("--repetitions", type=int, default=1)
    start.add_argument("--concurrency", type=int, default=4)
    start.add_argument("--form-type", help="the form type every variant reads (default: each entry's own)")
    start.add_argument("--no-watch", action="store_true")
    watch_parser = commands.add_parser("watch", help="watch an experiment until it ends")
    watch_parser.add_argument("experiment_id")
    compare = commands.add_parser("compare", help="print a paired comparison")
    compare.add_argument("experiment_id")
    compare.add_argument("--a")
    compare.add_argument("--b")
    compare.add_argument("--baseline")
    args = parser.parse_args(argv)
    api = Api(args.base_url, args.api_key)

    if args.command == "start":
        name, _, version = args.dataset.partition("@")
        body: dict[str, Any] = {
            "name": args.name,
            "dataset": {"name": name, "version": version or "v1"},
            "variants": [v | {"form_type": args.form_type} if args.form_type else v for v in args.variant],
            "repetitions": args.repetitions,
            "concurrency": args.concurrency,
        }
        if args.evaluator:
            body["evaluators"] = args.evaluator
        started = api.post("/experiments", body)
        print(
            f"experiment {started['experiment_id']}: {started['progress']['total']} runs, "
            f"estimated ${started['estimated_cost_usd']:.4f}"
        )
        if args.no_watch:
            return 0
        status = watch(api, started["experiment_id"])
        print(summary_table(status))
        if len(args.variant) == 2:
            compared = api.get(
                f"/experiments/{started['experiment_id']}/compare", a=args.variant[0]["name"], b=args.variant[1]["name"]
            )
            print(comparison_table(compared))
        return 0 if status["status"] == "completed" else 1
    if args.command == "watch":
        status = watch(api, args.experiment_id)
        print(summary_table(status))
        return 0 if status["status"] == "completed" else 1
    params = {"baseline": args.baseline} if args.baseline else {"a": args.a, "b": args.b}
    print(comparison_table(api.get(f"/experiments/{args.experiment_id}/compare", **params)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
