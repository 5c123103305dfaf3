"""Quality: how accurate production is, each week and each form type, with a 95% interval.

The API's estimate (GET /datasets/review/accuracy) combines the reviewers' verdicts on a uniform
random sample of traffic with the online evaluators' verdicts on all of it (prediction-powered
inference, PPI++); the reviewers' verdicts alone on the same sample are shown beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import streamlit as st
from api_client import ApiClient
from console_page import load, run_page, short_time, start_page

Json = dict[str, Any]
WEEKS_BACK = (4, 8, 12, 26)


def render() -> None:
    client = start_page("Quality", "📈")
    st.caption(
        "Production accuracy: the share of extractions read right, estimated from reviewers' verdicts on a "
        "uniform random sample (queue reason random_sample) and the online evaluators' verdicts on every "
        "extraction (PPI++). Approved counts as right; corrected or rejected as wrong."
    )
    weeks_back = st.selectbox("Weeks", WEEKS_BACK, key="quality-weeks")
    until = datetime.now(UTC)
    since = (until - timedelta(weeks=weeks_back)).isoformat()
    weekly = load("production accuracy", client.production_accuracy, since=since, until=until.isoformat(), by="week")
    overall_panel(weekly, weeks_back)
    st.subheader("Each week")
    st.table([row(week, first=f"{short_time(week['since'])[:10]} to {short_time(week['until'])[:10]}")
              for week in reversed(weekly.get("weeks") or [])])  # fmt: skip
    form_type_panel(client, since, until.isoformat())


def overall_panel(body: Json, weeks_back: int) -> None:
    st.subheader(f"The last {weeks_back} weeks")
    columns = st.columns(3)
    if body["estimate"] is None:
        columns[0].metric("Production accuracy", "no estimate")
        st.info(f"No estimate yet: {body['reason']}.")
    else:
        columns[0].metric("Production accuracy", percent(body["estimate"]))
        columns[1].metric("95% interval", interval(body))
        people = body.get("human_only") or {}
        columns[2].metric("Reviewers alone (same sample)", interval(people) if people else "–")
    st.caption(
        f"{body['n_reviewed']} random-sample extraction(s) reviewed of {body['n_total']} made; method "
        f"{body['method']}, confidence {body['confidence']:.0%}."
    )


def form_type_panel(client: ApiClient, since: str, until: str) -> None:
    st.subheader("Each form type")
    types = load("the form types", client.form_types)
    rows = []
    for form_type in types:
        ref = f"{form_type['name']}@{form_type.get('version', 1)}"
        rows.append(row(load(f"accuracy of {ref}", client.production_accuracy, since=since, until=until,
                             form_type=ref), first=ref))  # fmt: skip
    if rows:
        st.table(rows)
    else:
        st.info("No form type is registered.")


def row(body: Json, *, first: str) -> Json:
    people = body.get("human_only") or {}
    return {
        "": first,
        "accuracy": percent(body["estimate"]) if body["estimate"] is not None else "–",
        "95% interval": interval(body) if body["estimate"] is not None else body.get("reason") or "–",
        "reviewers alone": interval(people) if people else "–",
        "reviewed": body["n_reviewed"],
        "extractions": body["n_total"],
    }


def percent(value: float) -> str:
    return f"{value:.1%}"


def interval(body: Json) -> str:
    return f"{percent(body['ci_low'])} – {percent(body['ci_high'])}"


run_page(render)
