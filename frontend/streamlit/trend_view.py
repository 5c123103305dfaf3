"""A schedule's runs over time, and experiments side by side, on the Experiments page.

The trend comes from `GET /experiments/schedules/{id}/trend`: a line per metric with the
schedule's alert threshold, and a table of the runs with each verdict against its baseline and
whether it alerted. Side by side is `GET /experiments/compare?ids=...&baseline=...`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import requests
import streamlit as st
from api_client import ApiClient
from console_page import attempt, short_time

Json = dict[str, Any]
TREND_RUNS = 30
MAX_SIDE_BY_SIDE = 10
# Token counts and cost are in the run table's summary, not worth a chart each.
UNCHARTED = frozenset({"input_tokens", "output_tokens", "cost_usd", "evaluator_cost_usd"})
THRESHOLD = "alert threshold"
THRESHOLD_COLOUR = "#c62828"
VARIANT_COLOURS = ["#3b6fb6", "#e08a2e", "#4b9a5b", "#7a5fb0", "#5a8f9c"]
VERDICT_MARKS = {"better": "▲ better", "worse": "▼ worse", "no_significant_difference": "= same"}


def _segment(value: str) -> str:
    return requests.utils.quote(str(value), safe="")


def charted_metrics(trend: Json) -> list[str]:
    return [label for label in trend["metrics"] if label not in UNCHARTED and "=" not in label]


def run_time(point: Json) -> pd.Timestamp:
    """When the run's slot starts (UTC), else when it was created: a time axis, not labels."""
    slot = point.get("slot")
    if slot:
        try:
            return pd.Timestamp(pd.to_datetime(slot, format="%Y%m%dT%H%MZ", utc=True))
        except ValueError:
            pass
    return pd.Timestamp(point["created_at"])


def chart_frame(metric: Json) -> pd.DataFrame:
    """One row per run (its slot), a column of means per variant, and the threshold's column."""
    rows: dict[str, dict[str, Any]] = {}
    for point in metric["points"]:
        rows.setdefault(point["experiment_id"], {"run": run_time(point)})[point["variant"]] = point["mean"]
    frame = pd.DataFrame(list(rows.values())).set_index("run")
    if metric.get("threshold") is not None:
        frame[THRESHOLD] = metric["threshold"]
    return frame[sorted(frame.columns)]  # the order Streamlit gives the series their colours in


def chart_colours(frame: pd.DataFrame) -> list[str]:
    """A colour per column, in the frame's order: the threshold red, the variants others."""
    variants = iter(VARIANT_COLOURS * len(frame.columns))
    return [THRESHOLD_COLOUR if column == THRESHOLD else next(variants) for column in frame.columns]


def run_rows(trend: Json, labels: list[str]) -> list[Json]:
    """One row per run and variant: when, status, alert, and per metric its mean and verdict."""
    rows: dict[tuple[str, str], Json] = {}
    for label in labels:
        for point in trend["metrics"][label]["points"]:
            row = rows.setdefault(
                (point["experiment_id"], point["variant"]),
                {
                    "started (UTC)": short_time(point["created_at"]),
                    "experiment": point["experiment_id"],
                    "variant": point["variant"],
                    "status": point["status"],
                    "alert": "🔔 yes" if point["alert"] else "",
                },
            )
            mark = VERDICT_MARKS.get(point["verdict"] or "", "")
            row[label] = f"{_number(point['mean'])} {mark}".strip()
    return sorted(rows.values(), key=lambda row: row["started (UTC)"], reverse=True)


def schedule_trend_panel(client: ApiClient, schedule_id: str) -> None:
    """Per metric, the schedule's newest runs as a line with its threshold, then the runs' table."""
    trend = attempt(
        "Loading the trend", client.get, f"/experiments/schedules/{_segment(schedule_id)}/trend", limit=TREND_RUNS
    )
    if trend is None:
        return
    labels = charted_metrics(trend)
    st.markdown(f"**Trend of {schedule_id}** (its newest {TREND_RUNS} runs)")
    if not labels:
        st.info("No run of this schedule has finished yet: the trend appears after the first one.")
        return
    columns = st.columns(2)
    for index, label in enumerate(labels):
        metric = trend["metrics"][label]
        with columns[index % 2]:
            threshold = metric.get("threshold")
            caption = label + ("" if metric["higher_is_better"] else " (lower is better)")
            st.caption(caption + (f" · alert below {threshold:g}" if threshold is not None else ""))
            frame = chart_frame(metric)
            st.line_chart(frame, height=220, color=chart_colours(frame), x_label="slot (UTC)", y_label="mean")
    st.markdown("**Runs**: mean per metric, ▲/▼ a significant change against the run's baseline")
    st.table(run_rows(trend, labels))


def side_by_side_panel(client: ApiClient, experiment_ids: list[str]) -> None:
    """Pick 2 to 10 experiments and a baseline among them; their metrics side by side."""
    chosen = st.multiselect(
        "Experiments side by side (2 to 10)",
        experiment_ids,
        max_selections=MAX_SIDE_BY_SIDE,
        key="side-by-side",
    )
    if len(chosen) < 2:
        st.caption("Pick at least two experiments to see them side by side.")
        return
    baseline = st.selectbox("against the baseline", chosen, key="side-by-side-baseline")
    compared = attempt(
        "The side-by-side comparison", client.get, "/experiments/compare", ids=",".join(chosen), baseline=baseline
    )
    if compared is None:
        return
    st.table(metric_rows(compared))
    versus = baseline_rows(compared)
    if versus:
        st.markdown(f"**Against {baseline}**, paired record by record (difference, p-value, verdict)")
        st.table(versus)


def metric_rows(compared: Json) -> list[Json]:
    """One row per metric, one column per experiment (or experiment:variant): mean [95% interval]."""
    columns = [c["column"] for c in compared["columns"]]
    rows = []
    for label, cells in compared["metrics"].items():
        row: Json = {"metric": label}
        for column in columns:
            cell = cells.get(column)
            row[column] = (
                f"{_number(cell['mean'])} [{_fmt(cell.get('ci_low'))}, {_fmt(cell.get('ci_high'))}]" if cell else "—"
            )
        rows.append(row)
    return rows


def baseline_rows(compared: Json) -> list[Json]:
    columns = [c["column"] for c in compared["columns"] if c["column"] not in compared["baseline"]["columns"]]
    rows = []
    for label, cells in compared["vs_baseline"].items():
        row: Json = {"metric": label}
        for column in columns:
            cell = cells.get(column)
            if cell is None:
                row[column] = "—"
                continue
            p_value = cell.get("p_adjusted", cell.get("p_value"))
            mark = VERDICT_MARKS.get(cell["verdict"], cell["verdict"])
            row[column] = f"{_fmt(cell.get('delta'), signed=True)} (p {_fmt(p_value)}) {mark}"
        rows.append(row)
    return rows


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _fmt(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:  # latency in ms: grouped digits, not 1.2e+04
        return f"{value:+,.0f}" if signed else f"{value:,.0f}"
    return f"{value:+.3g}" if signed else f"{value:.3g}"
