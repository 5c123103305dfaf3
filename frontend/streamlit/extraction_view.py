"""An extraction as a person reads it (the image beside the counts), and the corrections editor.

Used by the Vote Extractor page and the Review Queue. Corrections are sent as the API wants
them: a partial VoteExtraction naming only what changed, candidates matched by name.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

Json = dict[str, Any]
STAT_FIELDS = ("valid_votes", "rejected_ballots", "total_ballots")
STAT_LABELS = {"valid_votes": "Valid votes", "rejected_ballots": "Rejected ballots", "total_ballots": "Total ballots"}


def vote_rows(result: Json | None) -> list[Json]:
    return [
        {"candidate": row.get("candidate_name", ""), "party": row.get("party") or "", "votes": row.get("vote_count")}
        for row in (result or {}).get("vote_results", [])
    ]


def evaluation(record: Json, label: str) -> Json | None:
    return next((e for e in record.get("evaluations", []) if e.get("label") == label), None)


def show_extraction(record: Json, image: bytes | None) -> None:
    """Status line, the image beside what the model read, the consistency check and the evaluations
    (both of that reading), and what a person corrected, if anyone did."""
    result = record.get("result")
    status = record.get("status", "?")
    st.markdown(
        f"**{status}** · model `{record.get('model')}` · prompt `{record.get('prompt_version')}` · "
        f"{record.get('latency_ms', 0):.0f} ms · extraction `{record.get('extraction_id')}`"
    )
    if status == "failed":
        st.error(f"The model failed: {record.get('error') or record.get('error_code') or 'no answer'}.")
    left, right = st.columns([5, 6], gap="large")
    with left:
        if image:
            st.image(image, caption="The form (open it full screen to read the digits)", width="stretch")
        else:
            st.info("The image could not be loaded.")
    with right:
        form = (result or {}).get("form") or {}
        st.markdown(
            f"**{form.get('constituency_name') or 'Unnamed constituency'}**"
            + (f" · code {form.get('constituency_code')}" if form.get("constituency_code") else "")
            + (f" · {form.get('form_type')}" if form.get("form_type") else "")
        )
        rows = vote_rows(result)
        if rows:
            st.table([{"Candidate": r["candidate"], "Party": r["party"], "Votes": _count(r["votes"])} for r in rows])
        else:
            st.info("No vote results were read.")
        stats = (result or {}).get("ballot_stats") or {}
        for column, name in zip(st.columns(3), STAT_FIELDS, strict=True):
            column.metric(STAT_LABELS[name], _count(stats.get(name)))
        show_consistency(record)
        show_correction(result, record.get("corrected_result"))
    show_evaluations(record)


def show_correction(result: Json | None, corrected: Json | None) -> None:
    """What a person's correction changed, field by field."""
    if not corrected:
        return
    changes = []
    before = {row["candidate"]: row for row in vote_rows(result)}
    for row in vote_rows(corrected):
        old = before.get(row["candidate"])
        if old is None:
            changes.append(f"{row['candidate']} added with {_count(row['votes'])}")
        elif old["votes"] != row["votes"]:
            changes.append(f"{row['candidate']} {_count(old['votes'])} → {_count(row['votes'])}")
    stats, fixed = (result or {}).get("ballot_stats") or {}, corrected.get("ballot_stats") or {}
    for name in STAT_FIELDS:
        if stats.get(name) != fixed.get(name):
            changes.append(f"{STAT_LABELS[name].lower()} {_count(stats.get(name))} → {_count(fixed.get(name))}")
    st.info("A person corrected this reading: " + ("; ".join(changes) or "no count changed") + ".", icon="✍️")


def show_consistency(record: Json) -> None:
    check = evaluation(record, "consistency")
    if check is None:
        return
    if check.get("value") is True:
        st.success(f"Consistency check passed: {check.get('reasoning') or 'the sums add up'}.", icon="✅")
    else:
        st.error(f"Consistency check failed: {check.get('reasoning') or 'the sums do not add up'}.", icon="➗")


def show_evaluations(record: Json) -> None:
    evaluations = record.get("evaluations") or []
    if not evaluations:
        return
    st.markdown("**Online evaluations**")
    st.table(
        [
            {
                "Evaluation": e.get("label"),
                "Value": _value(e.get("value")),
                "Verdict": e.get("assessment") or "",
                "Why": e.get("reasoning") or e.get("error") or "",
            }
            for e in evaluations
        ]
    )


def corrections_editor(result: Json | None, *, key: str) -> Json | None:
    """An editable table prefilled with the result; answers the corrections (only what changed)."""
    rows = vote_rows(result)
    st.caption("Change what the model read wrong; only the changed cells are sent.")
    edited = st.data_editor(
        rows,
        key=f"{key}-votes",
        num_rows="fixed",
        hide_index=True,
        width="stretch",
        disabled=["candidate"],
        column_config={
            "candidate": st.column_config.TextColumn("Candidate"),
            "party": st.column_config.TextColumn("Party"),
            "votes": st.column_config.NumberColumn("Votes", min_value=0, step=1, format="%d"),
        },
    )
    stats = (result or {}).get("ballot_stats") or {}
    edited_stats = {}
    for column, name in zip(st.columns(3), STAT_FIELDS, strict=True):
        edited_stats[name] = column.number_input(
            STAT_LABELS[name], min_value=0, step=1, value=stats.get(name), key=f"{key}-{name}"
        )
    return corrections_between(result, list(edited), edited_stats)


def corrections_between(result: Json | None, rows: list[Json], stats: Json) -> Json | None:
    """The partial VoteExtraction that turns `result` into the edited rows and stats; None if unchanged."""
    original_rows = vote_rows(result)
    changed_rows = []
    for before, after in zip(original_rows, rows, strict=False):
        fix: Json = {}
        if _int_or_none(after.get("votes")) != before["votes"]:
            fix["vote_count"] = _int_or_none(after.get("votes"))
        if (after.get("party") or "") != before["party"]:
            fix["party"] = after.get("party") or None
        if fix:
            changed_rows.append({"candidate_name": before["candidate"], **fix})
    original_stats = (result or {}).get("ballot_stats") or {}
    changed_stats = {
        name: _int_or_none(stats.get(name))
        for name in STAT_FIELDS
        if _int_or_none(stats.get(name)) != original_stats.get(name)
    }
    corrections: Json = {}
    if changed_rows:
        corrections["vote_results"] = changed_rows
    if changed_stats:
        corrections["ballot_stats"] = changed_stats
    return corrections or None


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else int(number)  # NaN from an emptied cell


def _count(value: Any) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
