"""Waiting for an experiment, with a progress bar on stderr (stdout stays for results)."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from frontend.cli.api import Api, CliError

FINISHED = ("completed", "failed", "cancelled")


class WaitTimedOut(CliError):
    """The experiment had not finished within the time given."""


def progress_bar(done: int, total: int, failed: int, width: int = 40) -> str:
    filled = min(width, int(width * done / total)) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs, {failed} failed"


def wait_for(
    api: Api,
    experiment_id: str,
    *,
    timeout_s: float | None = None,
    interval_s: float = 0.5,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """The experiment's status once it has finished; the bar redraws in place on a terminal and
    prints a line per change elsewhere (a CI log)."""
    out = out or sys.stderr
    redraw = out.isatty()
    deadline = time.monotonic() + timeout_s if timeout_s else None
    last = ""
    while True:
        status = api.get(f"/experiments/{experiment_id}")
        progress = status.get("progress") or {}
        line = (
            f"{progress_bar(progress.get('done', 0), progress.get('total', 0), progress.get('failed', 0))} "
            f"({status['status']})"
        )
        if line != last:
            print(f"\r{line}" if redraw else line, end="" if redraw else "\n", file=out, flush=True)
            last = line
        if status["status"] in FINISHED:
            if redraw:
                print(file=out)
            return status
        if deadline is not None and time.monotonic() > deadline:
            if redraw:
                print(file=out)
            raise WaitTimedOut(f"experiment {experiment_id} had not finished after {timeout_s:g} s ({line})")
        time.sleep(interval_s)
