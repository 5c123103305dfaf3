"""An experiment's runs as files: CSV and JSONL download buttons (GET /experiments/{id}/export).

The file is fetched when its button is clicked (a deferred download), not on every render: a large
experiment's export is megabytes, and the page reruns on each click elsewhere. Were the API to
refuse then, Streamlit could only say the download failed, so the buttons show only for an
experiment the page has just loaded.
"""

from __future__ import annotations

import re
import unicodedata

import streamlit as st
from api_client import ApiClient

FORMATS = {"csv": ("CSV", "text/csv"), "jsonl": ("JSONL", "application/x-ndjson")}


def download_buttons(client: ApiClient, experiment: dict) -> None:
    """CSV and JSONL of the experiment's runs, with their evaluations, side by side."""
    experiment_id = experiment["experiment_id"]
    st.markdown("**Runs and their evaluations**")
    columns = st.columns(len(FORMATS) + 2)
    for column, (fmt, (label, media_type)) in zip(columns, FORMATS.items(), strict=False):
        column.download_button(
            f"Download {label}",
            lambda fmt=fmt: client.experiment_export(experiment_id, fmt),
            file_name=file_name(experiment, fmt),
            mime=media_type,
            on_click="ignore",
            key=f"export-{fmt}-{experiment_id}",
            icon=":material/download:",
        )
    st.caption("CSV: a row a run, a column per evaluation label (and its pass/fail). JSONL: a run a line, as stored.")


def file_name(experiment: dict, fmt: str) -> str:
    """The name the API gives the file (`{name}-{id}.{fmt}`, the name cut to safe characters)."""
    ascii_name = unicodedata.normalize("NFKD", experiment.get("name") or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", ascii_name).strip("-")[:40]
    return f"{slug + '-' if slug else ''}{experiment['experiment_id']}.{fmt}"
