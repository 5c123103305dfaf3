"""An extraction as a person reads it (the image beside the counts), and the corrections editor.

Used by the Vote Extractor page and the Review Queue (the editors also by the Dataset Manager).
Everything is shown in the reading's form type: its statistics by their printed labels, its
words column, its rules' verdicts. Corrections are sent as the API wants them: a partial
VoteExtraction naming only what changed, candidates matched by name, statistics by key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from form_type_view import GENERIC, ShownType, checks_table, printed_form_name, statistic_values
from reading_checks import evaluation, rule_checks, show_check_verdict_first
from table_cells import literal

Json = dict[str, Any]


def vote_rows(result: Json | None) -> list[Json]:
    return [
        {
            "candidate": row.get("candidate_name", ""),
            "party": row.get("party") or "",
            "votes": row.get("vote_count"),
            "words": row.get("vote_count_words") or "",
        }
        for row in (result or {}).get("vote_results", [])
    ]


def show_extraction(
    record: Json, image: bytes | None, shown: ShownType, *, also_first: Callable[[], None] | None = None
) -> None:
    """Whether its checks failed (first, then `also_first`: another warning the page has), the
    status line, the image beside what the model read by the form type's printed labels, each
    rule's verdict, the evaluations, and what a person corrected, if anyone did."""
    result = record.get("result")
    status = record.get("status", "?")
    checks_failed = show_check_verdict_first(record)
    if also_first is not None:
        also_first()
    st.markdown(
        f"**{'read, checks failed' if checks_failed else status}** · form type `{record.get('form_type') or shown.ref}`"
        f" · model `{record.get('model')}` · prompt `{record.get('prompt_version')}` · "
        f"{record.get('latency_ms', 0):.0f} ms · extraction `{record.get('extraction_id')}`"
    )
    if shown.note:
        st.caption(shown.note)
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
            f"**{literal(form.get('constituency_name') or 'Unnamed constituency')}**"
            + (f" · code {literal(form.get('constituency_code'))}" if form.get("constituency_code") else "")
            + (f" · {literal(printed)}" if (printed := printed_form_name(result)) else "")
            + ("" if shown.form_type["name"] == GENERIC else f" · {shown.form_type.get('title') or shown.ref}")
        )
        show_votes(result, shown)
        show_statistics(result, shown)
        show_rule_verdicts(record)
        show_correction(result, record.get("corrected_result"), shown)
    show_evaluations(record)


def show_votes(result: Json | None, shown: ShownType) -> None:
    rows = vote_rows(result)
    if not rows:
        st.info("No vote results were read.")
        return
    # A party list (an EC8A's rows) names each row by its party: one column says it.
    parties_only = all(row["party"] == row["candidate"] for row in rows)
    table = []
    for row in rows:
        line = {"Candidate": literal(row["candidate"]), "Party": literal(row["party"]), "Votes": _count(row["votes"])}
        if parties_only:
            del line["Party"]
        if shown.has_words:
            line["In words"] = literal(row["words"]) or "—"
        table.append(line)
    st.table(table)


def show_statistics(result: Json | None, shown: ShownType) -> None:
    """The type's statistics by their printed labels: three short ones as metrics (generic), a
    paper's longer list as a table in its order."""
    values = statistic_values(result, shown)
    if not values:
        return
    if len(values) <= 3:
        for column, (_, label, value) in zip(st.columns(len(values)), values, strict=True):
            column.metric(label, _count(value))
        return
    st.table([{"As printed on the form": literal(label), "Read": _count(value)} for _, label, value in values])


def show_correction(result: Json | None, corrected: Json | None, shown: ShownType) -> None:
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
    fixed = {key: value for key, _, value in statistic_values(corrected, shown)}
    for key, label, value in statistic_values(result, shown):
        if value != fixed.get(key):
            changes.append(f"{label} {_count(value)} → {_count(fixed.get(key))}")
    st.info("A person corrected this reading: " + ("; ".join(changes) or "no count changed") + ".", icon="✍️")


def show_rule_verdicts(record: Json) -> None:
    """Each rule of the form type on this reading; a record from before form types has only the
    consistency evaluation's sentence."""
    checks = rule_checks(record)
    if checks:
        checks_table(checks, title="The form's own arithmetic on this reading")
        return
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


def corrections_editor(result: Json | None, shown: ShownType, *, key: str) -> Json | None:
    """An editable table prefilled with the result and the type's statistics by printed label;
    answers the corrections (only what changed)."""
    st.caption("Change what the model read wrong; only the changed cells are sent.")
    rows = votes_editor(vote_rows(result), shown, key=f"{key}-votes", candidates_fixed=True)
    edited_stats = statistics_inputs(statistic_values(result, shown), key=key)
    return corrections_between(result, rows, edited_stats, shown)


def votes_editor(rows: list[Json], shown: ShownType, *, key: str, candidates_fixed: bool) -> list[Json]:
    """The candidate rows in a data editor: votes, and the words where the type has a words column."""
    columns = {
        "candidate": st.column_config.TextColumn("Candidate", required=not candidates_fixed),
        "party": st.column_config.TextColumn("Party"),
        "votes": st.column_config.NumberColumn("Votes", min_value=0, step=1, format="%d"),
    }
    if shown.has_words:
        columns["words"] = st.column_config.TextColumn("In words", max_chars=200)
    edited = st.data_editor(
        [{name: row.get(name) for name in columns} for row in rows],
        key=key,
        num_rows="fixed" if candidates_fixed else "dynamic",
        hide_index=True,
        width="stretch",
        disabled=["candidate"] if candidates_fixed else False,
        column_config=columns,
        column_order=list(columns),
    )
    return list(edited)


def statistics_inputs(values: list[tuple[str, str, int | None]], *, key: str) -> Json:
    """One number input per statistic, labelled as the paper prints it; answers {key: value}."""
    edited: Json = {}
    per_row = 3 if len(values) <= 3 else 2
    for start in range(0, len(values), per_row):
        chunk = values[start : start + per_row]
        for column, (name, label, value) in zip(st.columns(per_row), chunk, strict=False):
            edited[name] = column.number_input(label, min_value=0, step=1, value=value, key=f"{key}-{name}")
    return edited


def corrections_between(result: Json | None, rows: list[Json], stats: Json, shown: ShownType) -> Json | None:
    """The partial VoteExtraction that turns `result` into the edited rows and statistics (sent
    as `statistics`, the type's keys); None if unchanged."""
    original_rows = vote_rows(result)
    changed_rows = []
    for before, after in zip(original_rows, rows, strict=False):
        fix: Json = {}
        if _int_or_none(after.get("votes")) != before["votes"]:
            fix["vote_count"] = _int_or_none(after.get("votes"))
        if (after.get("party") or "") != before["party"]:
            fix["party"] = after.get("party") or None
        if shown.has_words and (after.get("words") or "").strip() != before["words"]:
            fix["vote_count_words"] = (after.get("words") or "").strip() or None
        if fix:
            changed_rows.append({"candidate_name": before["candidate"], **fix})
    original_stats = {name: value for name, _, value in statistic_values(result, shown)}
    changed_stats = {
        name: _int_or_none(stats.get(name))
        for name in original_stats
        if name in stats and _int_or_none(stats.get(name)) != original_stats[name]
    }
    corrections: Json = {}
    if changed_rows:
        corrections["vote_results"] = changed_rows
    if changed_stats:
        corrections["statistics"] = changed_stats
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
