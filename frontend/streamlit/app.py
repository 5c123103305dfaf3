"""The console's home page: is the stack up, and what is in it.

    streamlit run frontend/streamlit/app.py     # ./deploy.sh local starts it at http://127.0.0.1:8501

The console is the guide's Streamlit pages (pages/: Vote Extractor, Review Queue, Dataset
Manager, Experiments), a client of the HTTP API and nothing else. Configuration: API_BASE_URL
(the gateway locally; https://REGION-PROJECT.cloudfunctions.net deployed) and API_KEY, from the
environment or Streamlit secrets; both stay on the server.
"""

from __future__ import annotations

from collections import Counter

import streamlit as st
from api_client import ApiError, ApiUnreachable
from console_page import run_page, start_page, unreachable_banner
from navigation import PAGES


def render() -> None:
    client = start_page("vote-extractor console", "🏠", tab_title="Home")
    st.caption(f"API: {client.base_url}")
    try:
        health = client.health()
    except ApiUnreachable as error:
        unreachable_banner(error)
        st.stop()
    checks = health.get("checks", {})
    if health.get("status") == "ok":
        st.success(f"The stack is healthy: {len(checks)} checks answer.", icon="✅")
    else:
        down = ", ".join(sorted(name for name, ok in checks.items() if not ok)) or "unknown"
        st.warning(f"Part of the stack is down: {down}.", icon="⚠️")
    with st.expander("Health checks"):
        st.table([{"check": name, "answers": "yes" if ok else "no"} for name, ok in sorted(checks.items())])

    counts = _counts(client)
    columns = st.columns(4)
    for column, (label, value, caption, page) in zip(columns, counts, strict=True):
        with column:
            st.metric(label, value)
            st.caption(caption)
            st.page_link(page, label=f"Open {label.lower()}")


def _counts(client) -> list[tuple[str, str, str, str]]:
    rows = []
    try:
        recent = client.extractions(page_size=100)["items"]
        down = sum(1 for item in recent if (item.get("feedback_summary") or {}).get("thumbs_down"))
        rows.append(
            (
                "Extractions",
                str(len(recent)) + ("+" if len(recent) == 100 else ""),
                f"{down} with a thumbs down among the latest",
                PAGES["extract"],
            )
        )
    except ApiError as error:
        rows.append(("Extractions", "?", error.message, PAGES["extract"]))
    try:
        queue = client.review_queue(state="pending")
        pending = sum(states.get("pending", 0) for states in queue.get("counts", {}).values())
        reasons = ", ".join(
            f"{reason.replace('_', ' ')} {states.get('pending', 0)}" for reason, states in queue["counts"].items()
        )
        rows.append(("Review queue", str(_pending_items(queue, pending)), reasons or "nothing waits", PAGES["review"]))
    except ApiError as error:
        rows.append(("Review queue", "?", error.message, PAGES["review"]))
    try:
        datasets = client.datasets()
        versions = [v for d in datasets for v in d["versions"]]
        published = sum(v["status"] == "published" for v in versions)
        rows.append(
            ("Datasets", str(len(datasets)), f"{len(versions)} versions, {published} published", PAGES["datasets"])
        )
    except ApiError as error:
        rows.append(("Datasets", "?", error.message, PAGES["datasets"]))
    try:
        experiments = client.experiments(page_size=100)["items"]
        states = Counter(item["status"] for item in experiments)
        rows.append(
            (
                "Experiments",
                str(len(experiments)),
                ", ".join(f"{n} {state}" for state, n in states.most_common()) or "none yet",
                PAGES["experiments"],
            )
        )
    except ApiError as error:
        rows.append(("Experiments", "?", error.message, PAGES["experiments"]))
    return rows


def _pending_items(queue: dict, by_reason_total: int) -> int:
    # An item with two reasons is counted under each; the listing's length is the item count.
    return len(queue.get("items", [])) if queue.get("next_page_token") is None else by_reason_total


run_page(render)
