"""The CI check (API.md "gate"): run the candidate against the baseline once, and decide.

Exit 0 when no gated metric is significantly worse (the API's verdict, on the p-value adjusted
for the number of metrics) and every floor holds on the candidate's mean; 1 when one is worse or
a floor fails; 2 when it could not decide (API unreachable or refusing, the experiment failed or
took longer than the timeout, nothing to compare, a floor's metric not measured).

Gated metrics are the quality metrics `/compare` lists under `metrics`; latency sits apart under
`performance` (it measures the machine's load while the runs overlapped) and never gates.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from frontend.cli.api import Api, CliError
from frontend.cli.progress import wait_for
from frontend.cli.tables import primary_of
from frontend.cli.variants import Floor

PASSED, REGRESSED, UNDECIDED = 0, 1, 2
Decision = Literal["pass", "fail", "undecided"]


@dataclass(frozen=True)
class GateRequest:
    dataset: dict[str, str] | None
    candidate: dict[str, Any]
    baseline: dict[str, Any] | None = None
    baseline_experiment_id: str | None = None
    evaluators: list[str] | None = None
    primary: str | None = None
    floors: list[Floor] = field(default_factory=list)
    timeout_s: float = 1800.0
    concurrency: int | None = None
    name: str | None = None
    form_type: str | None = None  # the form type the gate's variants read (None: each entry's own)


@dataclass(frozen=True)
class FloorResult:
    floor: Floor
    mean: float | None

    @property
    def holds(self) -> bool:
        return self.mean is not None and self.floor.holds(self.mean)


@dataclass
class GateOutcome:
    decision: Decision
    reason: str
    request: GateRequest
    experiment_id: str | None = None
    compared: dict[str, Any] | None = None
    status: dict[str, Any] | None = None
    primary: str | None = None
    regressions: list[str] = field(default_factory=list)
    floors: list[FloorResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"pass": PASSED, "fail": REGRESSED, "undecided": UNDECIDED}[self.decision]


def run_gate(api: Api, request: GateRequest, *, progress_out: TextIO | None = None) -> GateOutcome:
    """Start the experiment, wait for it, compare, decide; every failure to decide is an outcome."""
    progress_out = progress_out or sys.stderr
    outcome = GateOutcome("undecided", "", request)
    try:
        body, compare_params = experiment_plan(api, request)
        started = api.post("/experiments", body)
        outcome.experiment_id = started["experiment_id"]
        print(f"gate: experiment {outcome.experiment_id} started", file=progress_out, flush=True)
        try:
            outcome.status = wait_for(api, outcome.experiment_id, timeout_s=request.timeout_s, out=progress_out)
        except CliError:
            _cancel_quietly(api, outcome.experiment_id)
            raise
        if outcome.status["status"] != "completed":
            reason = outcome.status.get("status_reason") or outcome.status.get("error") or ""
            outcome.reason = f"the experiment ended {outcome.status['status']}" + (f": {reason}" if reason else "")
            return outcome
        outcome.compared = api.get(f"/experiments/{outcome.experiment_id}/compare", **compare_params)
    except CliError as error:
        outcome.reason = str(error)
        return outcome
    return decide(outcome, candidate_name=body["variants"][-1]["name"])


def experiment_plan(api: Api, request: GateRequest) -> tuple[dict[str, Any], dict[str, str]]:
    """The POST /experiments body and the /compare query that judges it."""
    candidate = dict(request.candidate)
    dataset = request.dataset
    if request.baseline_experiment_id:
        if dataset is None:  # the baseline's own dataset version, so the runs pair entry by entry
            dataset = api.get(f"/experiments/{request.baseline_experiment_id}")["dataset"]
        variants = [candidate]
        # `variant` picks the baseline's variant of the same name when it has several
        compare_params = {"baseline": request.baseline_experiment_id, "variant": candidate["name"]}
    elif request.baseline is not None and dataset is not None:
        baseline = dict(request.baseline)
        if baseline["name"] == candidate["name"]:  # variant names must differ within an experiment
            baseline["name"], candidate["name"] = f"{baseline['name']}-baseline", f"{candidate['name']}-candidate"
        variants = [baseline, candidate]
        compare_params = {"a": baseline["name"], "b": candidate["name"]}
    else:
        raise CliError("give --dataset with --baseline VARIANT, or --baseline-experiment ID")
    if request.form_type:  # a baseline experiment keeps the type it was run with
        variants = [variant | {"form_type": request.form_type} for variant in variants]
    if request.primary:  # a metric that was not compared is a 400 naming those that were
        compare_params["primary"] = request.primary
    body: dict[str, Any] = {
        "name": request.name
        or f"gate: {candidate['name']} against {compare_params.get('a') or compare_params['baseline']}",
        "dataset": dataset,
        "variants": variants,
    }
    if request.baseline_experiment_id:
        body["baseline_experiment_id"] = request.baseline_experiment_id
    if request.evaluators:
        body["evaluators"] = request.evaluators
    if request.primary:
        body["primary_metric"] = request.primary
    if request.concurrency:
        body["concurrency"] = request.concurrency
    return body, compare_params


def decide(outcome: GateOutcome, *, candidate_name: str) -> GateOutcome:
    """The decision from the comparison and the candidate's summary (no calls: testable alone)."""
    compared, status, request = outcome.compared or {}, outcome.status or {}, outcome.request
    metrics = compared.get("metrics") or {}
    outcome.primary = primary_of(compared, request.primary)
    candidate_summary = (status.get("summary") or {}).get(candidate_name) or {}
    outcome.floors = [FloorResult(floor, _mean(candidate_summary.get(floor.metric))) for floor in request.floors]
    outcome.regressions = sorted(label for label, m in metrics.items() if m.get("verdict") == "worse")
    unmeasured = [str(result.floor) for result in outcome.floors if result.mean is None]
    if not metrics:
        outcome.reason = "no metric could be compared (did every run fail?)"
    elif outcome.primary and outcome.primary not in metrics:
        outcome.reason = f"the primary metric {outcome.primary!r} is not among the compared metrics"
    elif unmeasured:
        outcome.reason = f"the candidate has no mean for the floor(s) {', '.join(unmeasured)}"
    elif outcome.regressions or not all(result.holds for result in outcome.floors):
        failed_floors = [str(result.floor) for result in outcome.floors if not result.holds]
        parts = [f"significantly worse: {', '.join(outcome.regressions)}"] if outcome.regressions else []
        parts += [f"floor not held: {', '.join(failed_floors)}"] if failed_floors else []
        outcome.decision, outcome.reason = "fail", "; ".join(parts)
    else:
        outcome.decision = "pass"
        outcome.reason = "no gated metric is significantly worse" + (" and every floor holds" if outcome.floors else "")
    return outcome


def _mean(value: Any) -> float | None:
    mean = value.get("mean") if isinstance(value, dict) else None
    return float(mean) if isinstance(mean, int | float) and not isinstance(mean, bool) else None


def _cancel_quietly(api: Api, experiment_id: str) -> None:
    # A timed-out gate should not leave its runs spending budget; if the cancel fails too, the
    # exit code (2) has already said what matters.
    try:
        api.post(f"/experiments/{experiment_id}/cancel")
    except CliError:
        pass
