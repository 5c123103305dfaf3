"""An experiment described in a small JSON or TOML file, for `start FILE`.

    name = "preprocessing"
    dataset = "demo_forms@v1"
    variants = ["on:tesseract:deskew=true,remove_lines=true", "off:tesseract:deskew=false,remove_lines=false"]
    evaluators = ["vote_count_accuracy", "vote_count_exact"]
    repetitions = 1
    concurrency = 4
    primary_metric = "vote_count_accuracy"

A variant may also be a table/object as POST /experiments takes it; `dataset` may be
`{name, version}`. Any other key POST /experiments accepts (budget_usd, run_timeout_s, ...) is
passed on as it is, and the API says what it refuses.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path
from typing import Any

from frontend.cli.api import CliError
from frontend.cli.variants import parse_dataset, parse_variant


def load_experiment(path: Path) -> dict[str, Any]:
    """The POST /experiments body the file describes."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"could not read {path}: {error.strerror}") from error
    try:
        described = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise CliError(f"{path} is not valid {kind}: {error}") from error
    if not isinstance(described, dict):
        raise CliError(f"{path} must describe one experiment as an object")
    return experiment_body(described, source=str(path))


def experiment_body(described: dict[str, Any], *, source: str) -> dict[str, Any]:
    body = dict(described)
    try:
        if isinstance(body.get("dataset"), str):
            body["dataset"] = parse_dataset(body["dataset"])
        body["variants"] = [parse_variant(v) if isinstance(v, str) else v for v in body.get("variants") or []]
    except argparse.ArgumentTypeError as error:
        raise CliError(f"{source}: {error}") from error
    missing = [key for key in ("dataset", "variants") if not body.get(key)]
    if missing:
        raise CliError(f"{source} must name {' and '.join(missing)}")
    body.setdefault("name", Path(source).stem)
    return body
