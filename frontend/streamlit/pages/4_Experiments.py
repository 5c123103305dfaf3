"""Experiments: start one with its cost estimate, watch it run, read its verdicts and report.

Also the prompts (versions side by side, their diff, labels to move, a new version), the
schedules (the experiments Cloud Scheduler starts every hour) and recent alerts.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
import streamlit.components.v1 as components
from api_client import ApiClient
from confirm_delete import delete_button, deletion_notice
from console_page import attempt, lazy_tabs, load, load_page, page_buttons, run_page, short_time, start_page
from experiment_downloads import download_buttons
from trend_view import schedule_trend_panel, side_by_side_panel

Json = dict[str, Any]
FINISHED = ("completed", "failed")
PROMPT_LABELS = ("production", "candidate")
JUDGE = "llm_judge"
LISTED_VERSIONS = 10  # per prompt, newest first, in the variants' prompt picker
DEFAULT_VARIANTS = [
    {
        "name": "on",
        "model": "tesseract",
        "prompt_version": "prompt_a",
        "params": '{"deskew": true, "remove_lines": true}',
    },
    {
        "name": "off",
        "model": "tesseract",
        "prompt_version": "prompt_a",
        "params": '{"deskew": false, "remove_lines": false}',
    },
]


def render() -> None:
    client = start_page("Experiments", "🧪")
    lazy_tabs(
        "experiments-tab",
        {
            "Experiments": lambda: list_panel(client),
            "Start an experiment": lambda: start_panel(client),
            "Prompts": lambda: prompts_panel(client),
            "Schedules and alerts": lambda: schedules_panel(client),
        },
    )


def list_panel(client: ApiClient) -> None:
    columns = st.columns(3)
    dataset = columns[0].text_input("Dataset", key="filter-dataset", placeholder="any").strip()
    status = columns[1].selectbox("Status", ["any", "queued", "running", "completed", "failed"], key="filter-status")
    schedule = columns[2].text_input("Schedule", key="filter-schedule", placeholder="any").strip()
    page, _ = load_page(
        "experiments",
        "the experiments",
        client.experiments,
        dataset=dataset or None,
        status=None if status == "any" else status,
        schedule_id=schedule or None,
        page_size=15,
    )
    items = page["items"]
    if not items:
        st.info("No experiment matches: start one in the next tab.")
        return
    st.table(
        [
            {
                "created (UTC)": short_time(item.get("created_at")),
                "name": item["name"],
                "experiment": item["experiment_id"],
                "status": item["status"],
                "dataset": f"{item['dataset']['name']}@{item['dataset']['version']}",
                "variants": ", ".join(v["name"] for v in item.get("variants", [])),
                "progress": f"{item['progress']['done']}/{item['progress']['total']}",
            }
            for item in items
        ],
    )
    page_buttons("experiments", page)
    ids = [item["experiment_id"] for item in items]
    with st.expander("Side by side"):
        side_by_side_panel(client, ids)
    started = st.session_state.pop("open-experiment", None)
    if started in ids:  # set before the widget exists in this run, so it opens the one just started
        st.session_state["open"] = started
    chosen = st.selectbox("Open an experiment", ids, key="open")
    experiment_panel(client, chosen)


def experiment_panel(client: ApiClient, experiment_id: str) -> None:
    experiment = progress_panel(client, experiment_id)
    if experiment is None or experiment["status"] not in FINISHED:
        return
    summary_panel(experiment)
    variants = [v["name"] for v in experiment["variants"]]
    if len(variants) >= 2:
        compare_panel(client, experiment_id, variants)
    download_buttons(client, experiment)
    report_panel(client, experiment_id, experiment["name"])


def progress_panel(client: ApiClient, experiment_id: str) -> Json | None:
    experiment = attempt("Loading the experiment", client.experiment, experiment_id)
    if experiment is None:
        return None
    if experiment["status"] in FINISHED:
        _progress_line(experiment)
        return experiment
    _live_progress(client, experiment_id)
    return experiment


@st.fragment(run_every="1s")
def _live_progress(client: ApiClient, experiment_id: str) -> None:
    experiment = attempt("Loading the experiment", client.experiment, experiment_id)
    if experiment is None:
        return
    _progress_line(experiment)
    if experiment["status"] in FINISHED:
        st.rerun(scope="app")  # show the summary, comparison and report


def _progress_line(experiment: Json) -> None:
    progress = experiment["progress"]
    total = max(progress["total"], 1)
    share = min(progress["done"] / total, 1.0)
    st.progress(
        share,
        text=f"{experiment['name']}: {experiment['status']}, {progress['done']} of "
        f"{progress['total']} runs ({100 * share:.0f}%), {progress['failed']} failed",
    )
    if experiment.get("status_reason"):
        st.caption(experiment["status_reason"])


def summary_panel(experiment: Json) -> None:
    """One row per metric, one column per variant: mean [95% interval]."""
    summary = experiment.get("summary") or {}
    per_variant = {v: m for v, m in summary.get("variants", summary).items() if isinstance(m, dict)}
    labels = sorted({label for metrics in per_variant.values() for label, point in metrics.items() if _is_point(point)})
    if not labels:
        return
    st.markdown("**Per variant**: mean [bootstrap 95% interval], n runs")
    st.table(
        [
            {
                "metric": label,
                **{variant: _point(metrics.get(label)) for variant, metrics in per_variant.items()},
            }
            for label in labels
        ]
    )


def _is_point(point: Any) -> bool:
    return isinstance(point, dict) and point.get("mean") is not None and "ci_low" in point


def _point(point: Any) -> str:
    if not _is_point(point):
        return "—"
    return f"{_fmt(point['mean'])} [{_fmt(point.get('ci_low'))}, {_fmt(point.get('ci_high'))}], n={point.get('n')}"


def compare_panel(client: ApiClient, experiment_id: str, variants: list[str]) -> None:
    left, right = st.columns(2)
    a = left.selectbox("Compare (a, the reference)", variants, index=0, key=f"a-{experiment_id}")
    b = right.selectbox("with (b)", variants, index=1, key=f"b-{experiment_id}")
    if a == b:
        st.info("Pick two different variants.")
        return
    compared = attempt("The comparison", client.compare, experiment_id, a, b)
    if compared is None:
        return
    rows = []
    # The primary metric first, marked; the verdicts are decided on the Holm-adjusted p.
    for label, metric in sorted(
        compared.get("metrics", {}).items(), key=lambda item: (not item[1].get("primary"), item[0])
    ):
        rows.append(
            {
                "metric": f"★ {label} (primary)" if metric.get("primary") else label,
                f"{a} (a)": _fmt(metric.get("a_mean")),
                f"{b} (b)": _fmt(metric.get("b_mean")),
                "b - a": _fmt(metric.get("delta")),
                "95% interval": f"{_fmt(metric.get('ci_low'))} to {_fmt(metric.get('ci_high'))}",
                "p (raw)": _fmt(metric.get("p_value")),
                "p (Holm)": _fmt(metric.get("p_adjusted")),
                "MDE": _fmt(metric.get("mde")),
                "test": metric.get("test") or "",
                "verdict": _verdict(metric.get("verdict")),
            }
        )
    st.markdown(f"**{b} against {a}**, paired record by record")
    st.table(rows)
    st.caption(
        f"Verdicts use p (Holm): corrected across the {len(rows)} metrics, so a change that does nothing is "
        f"called better or worse on any of them at most {_fmt(compared.get('alpha', 0.05))} of the time. "
        "MDE: the smallest true difference these pairs would detect (80% power); a smaller one may be there unseen. "
        f"Primary: {compared.get('primary_metric') or '—'}."
    )
    fields = compared.get("per_field") or {}
    if fields:
        with st.expander("Per-field accuracy"):
            st.table(
                [
                    {
                        "field": name,
                        f"{a} (a)": _fmt(field.get("a_mean")),
                        f"{b} (b)": _fmt(field.get("b_mean")),
                        "b - a": _fmt(field.get("delta")),
                        "p (raw)": _fmt(field.get("p_value")),
                        "p (Holm)": _fmt(field.get("p_adjusted")),
                        "verdict": _verdict(field.get("verdict")),
                    }
                    for name, field in sorted(fields.items())
                ]
            )


def report_panel(client: ApiClient, experiment_id: str, name: str) -> None:
    """The self-contained HTML report, on demand: it embeds the disagreeing forms' images, the
    slowest thing on this page."""
    key = f"report-{experiment_id}"
    if key not in st.session_state:
        if not st.button("Open the report", key=f"open-{key}"):
            return
        st.session_state[key] = attempt("The report", client.report, experiment_id)
    report = st.session_state[key]
    if report is None:
        return
    st.markdown("**Report**")
    st.download_button(
        "Download the report (HTML)",
        report,
        file_name=f"experiment-{experiment_id}.html",
        mime="text/html",
        key=f"download-{key}",
    )
    components.html(report, height=900, scrolling=True)


def start_panel(client: ApiClient) -> None:
    options = load("the experiment options", client.get, "/experiments/options")
    model_options = load("the models", client.options)
    started_panel(client)
    published = load("the datasets", client.version_labels, "published")
    if not published:
        st.info("Experiments run on a published dataset version: publish one in the Dataset Manager.")
        return
    name = st.text_input("Name", value="preprocessing on vs off", key="new-name")
    dataset = st.selectbox("Dataset version", published, key="new-dataset")
    st.markdown("**Variants** (model x prompt x params; params as JSON)")
    st.caption(
        "A prompt is a name (its production label), name@label or name@version; the experiment stores the "
        'version it resolves to. `"reference_docs": true` in params puts each entry\'s reference documents in '
        "the prompt: two variants with and without it compare like any pair."
    )
    models = [m["id"] for m in model_options["models"]]
    variants = st.data_editor(
        DEFAULT_VARIANTS,
        key="new-variants",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "name": st.column_config.TextColumn("Name", required=True),
            "model": st.column_config.SelectboxColumn("Model", options=models, required=True),
            "prompt_version": st.column_config.SelectboxColumn(
                "Prompt", options=prompt_refs(load("the prompts", client.prompts))
            ),
            "params": st.column_config.TextColumn("Params (JSON)"),
        },
    )
    evaluators: list[Any] = st.multiselect(
        "Evaluators",
        [name for name in options["evaluators"] if name != JUDGE],  # a judge needs its rubric: below
        default=options["default_evaluators"],
        key="new-evaluators",
    )
    judge, problem = judge_form()
    if problem:
        st.warning(problem)
        return
    if judge:
        evaluators = [*evaluators, {JUDGE: judge}]
    left, right = st.columns(2)
    repetitions = left.number_input("Repetitions", 1, options["max_repetitions"], 1, key="new-repetitions")
    concurrency = right.number_input("Concurrency", 1, options["max_concurrency"], 8, key="new-concurrency")
    body, problem = _experiment_body(name, dataset, list(variants), evaluators, int(repetitions), int(concurrency))
    if problem:
        st.warning(problem)
        return
    fingerprint = json.dumps(body, sort_keys=True)
    if st.button("Estimate the cost (dry run)", key="estimate"):
        plan = attempt("The dry run", client.start_experiment, {**body, "dry_run": True})
        if plan is not None:
            st.session_state["plan"] = (fingerprint, plan)
    planned = st.session_state.get("plan")
    if not planned or planned[0] != fingerprint:
        st.caption("Estimate the cost first; the experiment starts after.")
        return
    plan = planned[1]
    st.info(
        f"{plan['progress']['total']} runs, estimated cost ${plan['estimated_cost_usd']:.4f} "
        f"with {len(plan['evaluators'])} evaluators."
    )
    if st.button("Start the experiment", type="primary", key="start"):
        started = attempt("Starting the experiment", client.start_experiment, body)
        if started is not None:
            st.session_state.pop("plan", None)
            st.session_state["open-experiment"] = st.session_state["last-started"] = started["experiment_id"]
            st.rerun()


def judge_form() -> tuple[Json | None, str | None]:
    """An optional rubric judge (`llm_judge`): Gemini at temperature 0 grades each run against the
    criteria; (its params, or None) and a sentence when the form is not usable yet."""
    with st.expander("Rubric judge (an LLM grades each run against your criteria)"):
        if not st.checkbox("Add a rubric judge", key="judge-on"):
            return None, None
        label = st.text_input("Label (letters, digits, _)", value="rubric", key="judge-label").strip()
        rubric = st.text_area(
            "Criteria",
            value="Every candidate on the form is in the output with the vote count printed on the form.",
            key="judge-rubric",
        ).strip()
        output = st.radio("Answer", ["score", "boolean", "categorical"], horizontal=True, key="judge-output")
        judge: Json = {"label": label, "rubric": rubric, "output": output}
        if output == "score":
            judge["pass_threshold"] = int(st.slider("Passes at (1-5)", 1, 5, 4, key="judge-threshold"))
        elif output == "categorical":
            given = st.text_input("Classes (comma-separated)", value="right, partly, wrong", key="judge-classes")
            classes = _words(given)
            passing = st.multiselect("Passing classes", classes, default=classes[:1], key="judge-passing")
            judge.update(classes=classes, pass_classes=passing)
            if len(classes) < 2 or not passing:
                return None, "A categorical judge needs at least two classes and one passing class."
        if not rubric:
            return None, "Write the judge's criteria, or untick the rubric judge."
        return judge, None


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def started_panel(client: ApiClient) -> None:
    """The experiment this person just started, watched until it finishes."""
    experiment_id = st.session_state.get("last-started")
    if not experiment_id:
        return
    st.markdown(f"**Started {experiment_id}**")
    experiment = progress_panel(client, experiment_id)
    if experiment is not None and experiment["status"] in FINISHED:
        st.caption("Its summary, verdicts and report are in the Experiments tab.")


def _experiment_body(
    name: str, dataset: str, variants: list[Json], evaluators: list[Any], repetitions: int, concurrency: int
) -> tuple[Json, str | None]:
    parsed = []
    for row in variants:
        if not row.get("name") or not row.get("model"):
            continue
        try:
            params = json.loads(row.get("params") or "{}")
        except ValueError:
            return {}, f"The params of variant {row['name']} are not JSON."
        if not isinstance(params, dict):
            return {}, f"The params of variant {row['name']} must be a JSON object."
        parsed.append(
            {
                "name": row["name"],
                "model": row["model"],
                "prompt_version": row.get("prompt_version") or "prompt_a",
                "params": params,
            }
        )
    if not parsed:
        return {}, "Add at least one variant with a name and a model."
    dataset_name, version = dataset.split("@", 1)
    body = {
        "name": name.strip() or "experiment",
        "dataset": {"name": dataset_name, "version": version},
        "variants": parsed,
        "evaluators": evaluators,
        "repetitions": repetitions,
        "concurrency": concurrency,
    }
    return body, None


def prompt_refs(prompts: list[Json]) -> list[str]:
    """What a variant may name: each prompt bare (its production label), by label, and by its
    newest versions."""
    refs: list[str] = []
    for prompt in prompts:
        name = prompt["name"]
        refs.append(name)
        refs += [f"{name}@{label}" for label in sorted(prompt.get("labels") or {})]
        newest = int(prompt["latest_version"])
        refs += [f"{name}@{n}" for n in range(newest, max(0, newest - LISTED_VERSIONS), -1)]
    return refs


def prompts_panel(client: ApiClient) -> None:
    prompts = load("the prompts", client.prompts)
    if not prompts:
        st.info("No prompts yet.")
        return
    st.table(
        [
            {
                "prompt": p["name"],
                "newest version": p["latest_version"],
                "labels": ", ".join(f"{label} → {n}" for label, n in sorted(p["labels"].items())) or "none",
            }
            for p in prompts
        ],
    )
    name = st.selectbox("Prompt", [p["name"] for p in prompts], key="prompt-chosen")
    described = load("the prompt", client.prompt, name)
    labels_of: dict[int, list[str]] = {}
    for label, number in described["labels"].items():
        labels_of.setdefault(number, []).append(label)
    numbers = [v["version"] for v in described["versions"]]

    def named(number: int) -> str:
        return f"{number} ({', '.join(sorted(labels_of[number]))})" if number in labels_of else str(number)

    left, right = st.columns(2)
    old = left.selectbox("Version", numbers, index=max(0, len(numbers) - 2), format_func=named, key=f"prompt-a-{name}")
    new = right.selectbox("beside version", numbers, index=len(numbers) - 1, format_func=named, key=f"prompt-b-{name}")
    shown = {}
    for column, number in ((left, old), (right, new)):
        version = attempt("Loading the version", client.prompt_version, name, str(number))
        if version is None:
            return
        shown[number] = version
        column.markdown(f"**{version['ref']}**")
        column.caption(
            f"by {version.get('created_by') or 'unknown'}, {short_time(version.get('created_at'))}; variables: "
            f"{', '.join(version['variables']) or 'none'}"
        )
        column.code(version["template"], language=None, wrap_lines=True)
    diff = attempt("The diff", client.prompt_diff, name, str(old), str(new))
    if diff is not None:
        st.markdown(f"**Diff {name}@{old} → {name}@{new}**")
        st.code(diff["diff"] or "(the same template)", language="diff")
    move_label_form(client, name, numbers, described["labels"])
    with st.expander("New version"):
        new_version_form(client, name, shown[new]["template"], shown[new]["variables"])


def move_label_form(client: ApiClient, name: str, numbers: list[int], labels: dict[str, int]) -> None:
    left, middle, right = st.columns([2, 2, 1])
    label = left.selectbox("Label", PROMPT_LABELS, key=f"label-{name}")
    current = labels.get(label)
    index = numbers.index(current) if current in numbers else len(numbers) - 1
    target = middle.selectbox("points at version", numbers, index=index, key=f"label-target-{name}")
    right.write("")
    if right.button("Move the label", key=f"label-move-{name}"):
        if attempt("Moving the label", client.move_prompt_label, name, label, int(target)) is not None:
            st.success(f"{name}@{label} is now version {target}.")
            st.rerun()


def new_version_form(client: ApiClient, name: str, template: str, variables: list[str]) -> None:
    with st.form(f"new-prompt-version-{name}"):
        prompt_name = st.text_input("Prompt name (a new name makes a new prompt)", value=name)
        text = st.text_area("Template ({{reference_docs}} is the one variable)", value=template, height=220)
        declared = st.multiselect("Variables", ["reference_docs"], default=variables)
        if st.form_submit_button("Create the version", type="primary"):
            body = {"name": prompt_name.strip(), "template": text, "variables": declared}
            created = attempt("Creating the version", client.create_prompt_version, body)
            if created is not None:
                st.success(f"Created {created['ref']}.")
                st.rerun()


def schedules_panel(client: ApiClient) -> None:
    deletion_notice()
    schedules = load("the schedules", client.schedules)
    if schedules:
        st.table(
            [
                {
                    "schedule": s["schedule_id"],
                    "enabled": "yes" if s["enabled"] else "no",
                    "every (min)": s["interval_minutes"],
                    "dataset": f"{s['dataset']['name']}@{s['dataset']['version']}",
                    "variants": ", ".join(v["name"] for v in s["variants"]),
                    "last experiment": s.get("last_experiment_id") or "",
                    "last error": s.get("last_error") or "",
                }
                for s in schedules
            ],
        )
        left, right = st.columns([3, 1])
        chosen = left.selectbox("Schedule", [s["schedule_id"] for s in schedules], key="schedule-chosen")
        current = next(s for s in schedules if s["schedule_id"] == chosen)
        label = "Disable" if current["enabled"] else "Enable"
        right.write("")
        if right.button(label, key="schedule-toggle"):
            if attempt(f"{label} the schedule", client.set_schedule_enabled, chosen, not current["enabled"]):
                st.rerun()
        others = [s["schedule_id"] for s in schedules if s["schedule_id"] != chosen]
        after = {"schedule-chosen": others[0]} if others else {}
        delete_button(f"schedule {chosen}", f"schedule-{chosen}", client.delete_schedule, chosen, then_choose=after)
        schedule_trend_panel(client, chosen)
    else:
        st.info("No schedules yet.")
    with st.expander("Create a schedule"):
        schedule_form(client)
    st.markdown("**Recent alerts**")
    alerts = attempt("Loading the alerts", client.alerts, 20) or []
    if alerts:
        st.table(
            [
                {
                    "when (UTC)": short_time(a.get("created_at")),
                    "kind": a["kind"],
                    "severity": a["severity"],
                    "experiment": a.get("experiment_id") or f"traffic from {short_time(a.get('window_start'))}",
                    "message": a["message"],
                }
                for a in alerts
            ],
        )
    else:
        st.caption("No alerts.")


def schedule_form(client: ApiClient) -> None:
    datasets = [d["name"] for d in load("the datasets", client.datasets)]
    with st.form("new-schedule"):
        schedule_id = st.text_input("Schedule id", placeholder="nightly-ocr")
        interval = st.number_input("Every (minutes)", min_value=5, max_value=10080, value=60, step=5)
        dataset = st.selectbox("Dataset (its newest published version)", datasets)
        model = st.text_input("Model", value="tesseract")
        prompt = st.text_input("Prompt version", value="prompt_a", help="name, name@label or name@version")
        min_quality = st.slider("Alert when vote_count_accuracy is below", 0.0, 1.0, 0.9, 0.01)
        if st.form_submit_button("Create the schedule", type="primary"):
            body = {
                "schedule_id": schedule_id.strip(),
                "interval_minutes": int(interval),
                "dataset": {"name": dataset, "version": "latest"},
                "variants": [{"name": "main", "model": model.strip(), "prompt_version": prompt.strip()}],
                "thresholds": {"min_quality": min_quality},
            }
            if attempt("Creating the schedule", client.create_schedule, body) is not None:
                st.rerun()


def _verdict(verdict: str | None) -> str:
    return {"better": "✅ better", "worse": "❌ worse", "no_significant_difference": "no significant difference"}.get(
        verdict or "", verdict or ""
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


run_page(render)
