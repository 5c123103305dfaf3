"""Judges: the stored rubric judges, their versions, and how well each agrees with reviewers.

A judge is versioned data (`/experiments/judges`): a rubric and reviewers' examples. Aligning one
builds a new version from the review queue's decisions and compares the old and the new version
on decisions neither has seen: agreement with people, Cohen's kappa, and McNemar's paired verdict.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from api_client import ApiClient
from console_page import attempt, load, run_page, short_time, start_page

Json = dict[str, Any]
VERDICT_SENTENCES = {
    "better": "The new version agrees with reviewers significantly more often.",
    "worse": "The new version agrees with reviewers significantly less often: keep the old one.",
    "no_significant_difference": "No significant difference between the versions on the held-out decisions.",
}


def render() -> None:
    client = start_page("Judges", "⚖️")
    judges = load("the judges", client.judges)
    if not judges:
        st.info("No stored judge yet: POST one to /experiments/judges (a rubric, its output, and examples).")
        return
    names = [judge["name"] for judge in judges]
    name = st.selectbox("Judge", names, key="judge_name")
    judge = load("the judge", client.judge, name)
    labels = judge.get("labels") or {}
    st.caption(
        f"Newest version {judge['latest_version']}; labels: "
        + (", ".join(f"{label} → {version}" for label, version in sorted(labels.items())) or "none")
    )
    versions = judge.get("versions") or []
    st.table([_version_row(version) for version in versions])
    aligned = [version for version in versions if version.get("alignment")]
    for version in reversed(aligned):
        alignment_panel(version)
    align_form(client, name, versions)


def _version_row(version: Json) -> Json:
    alignment = version.get("alignment") or {}
    new = (alignment.get("holdout") or {}).get("new") or {}
    return {
        "Version": version["ref"],
        "Labels": ", ".join(version.get("labels") or []),
        "Output": version.get("output"),
        "Sees image": "yes" if version.get("sees_image") else "no",
        "Examples": version.get("examples", 0),
        "From": version.get("from_version") or "",
        "Held-out agreement": _share(new.get("agreement")),
        "Created": short_time(version.get("created_at")),
    }


def alignment_panel(version: Json) -> None:
    alignment = version["alignment"]
    holdout = alignment.get("holdout") or {}
    st.subheader(f"Alignment: version {alignment.get('from_version')} → {version['version']}")
    if not holdout.get("n"):
        st.warning("No held-out decision could be judged by both versions: nothing to compare.")
        return
    old, new, paired = holdout.get("old") or {}, holdout.get("new") or {}, holdout.get("paired") or {}
    st.table(
        [
            {"": "before (old version)", "Agreement": _share(old.get("agreement")), "Kappa": _number(old.get("kappa"))},
            {"": "after (new version)", "Agreement": _share(new.get("agreement")), "Kappa": _number(new.get("kappa"))},
        ]
    )
    verdict = paired.get("verdict", "no_significant_difference")
    sentence = (
        f"{VERDICT_SENTENCES.get(verdict, verdict)} (McNemar exact p = {paired.get('p_value', 1):.4f}, "
        f"{holdout['n']} held-out decisions; {len(alignment.get('examples') or [])} examples chosen.)"
    )
    {"better": st.success, "worse": st.error}.get(verdict, st.info)(sentence)


def align_form(client: ApiClient, name: str, versions: list[Json]) -> None:
    st.subheader("Align with reviewers")
    with st.form("align"):
        refs = [str(version["version"]) for version in versions]
        from_version = st.selectbox("From version", refs, index=len(refs) - 1 if refs else 0)
        holdout = st.slider("Held-out share of the decisions", 0.1, 0.9, 0.3, 0.05)
        max_examples = st.number_input("At most this many examples", 1, 20, 8)
        seed = st.number_input("Seed (the same seed splits the decisions the same way)", 0, 1_000_000, 0)
        go = st.form_submit_button("Align with reviewers' decisions")
    if go:
        body = {
            "from_version": int(from_version),
            "holdout_fraction": float(holdout),
            "max_examples": int(max_examples),
            "seed": int(seed),
        }
        with st.spinner("Judging the reviewed extractions with both versions…"):
            result = attempt("Aligning the judge", client.align_judge, name, body)
        if result is not None:
            st.session_state["judge_aligned"] = result["ref"]
            st.rerun()
    if st.session_state.get("judge_aligned"):
        st.success(f"Made {st.session_state['judge_aligned']} from the reviewers' decisions.")


def _share(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "—"


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "—"


run_page(render)
