"""Dataset Manager: versioned golden datasets (the guide's section 2.3, made real).

Versions are drafts until published (then frozen: experiments pin them). Browse a version's
entries page by page, edit a draft entry's expected output, publish with a confirmation, branch a
new version, compare two versions, import JSONL or CSV (rejected lines are listed) and export.
An entry is shown and edited in its form type (its statistics by printed label, sent by key),
with each rule's verdict on its expected output (the entry's `checks`): a rule that fails on the
golden data says the paper itself is inconsistent, not that a reading is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import streamlit as st
from api_client import ApiClient
from confirm_delete import delete_button, deletion_notice
from console_page import attempt, lazy_tabs, load, load_page, page_buttons, run_page, short_time, start_page
from extraction_view import statistics_inputs, vote_rows, votes_editor
from form_type_view import GENERIC, VERDICTS, ShownType, checks_table, shown_type, statistic_values, type_ref_of
from table_cells import literal

Json = dict[str, Any]
PAGE_SIZE = 5


def render() -> None:
    client = start_page("Dataset Manager", "📊")
    datasets = load("the datasets", client.datasets)
    versions = [(d, v) for d in datasets for v in d["versions"]]
    if versions:
        st.table(
            [
                {
                    "dataset": d["name"],
                    "version": v["version"],
                    "status": v["status"],
                    "entries": v["entry_count"],
                    "updated (UTC)": short_time(v.get("updated_at")),
                    "description": d.get("description") or "",
                }
                for d, v in versions
            ],
        )
    else:
        st.info("No datasets yet: create one below, or add extractions from the Vote Extractor.")
    create_panel(client)
    deletion_notice()
    if not versions:
        return
    labels = [f"{d['name']}@{v['version']}" for d, v in versions]
    if st.session_state.get("show-version") in labels:  # a version just made: show it
        st.session_state["chosen-version"] = st.session_state.pop("show-version")
    chosen = st.selectbox("Dataset version", labels, key="chosen-version")
    name, version = chosen.split("@", 1)
    status = next(v["status"] for d, v in versions if d["name"] == name and v["version"] == version)
    siblings = [v["version"] for d, v in versions if d["name"] == name]
    lazy_tabs(
        "dataset-tab",
        {
            "Entries": lambda: entries_panel(client, name, version, status),
            "Publish or branch": lambda: versions_panel(client, name, version, status),
            "Diff": lambda: diff_panel(client, name, siblings),
            "Import and export": lambda: import_export_panel(client, name, version, status),
            "Delete": lambda: delete_panel(client, name, version, status, labels),
        },
    )


def create_panel(client: ApiClient) -> None:
    with st.expander("Create a dataset"):
        with st.form("create", clear_on_submit=True):
            name = st.text_input("Name", placeholder="golden", help="lowercase letters, digits, '_' and '-'")
            version = st.text_input("First version", value="v1")
            description = st.text_area("Description")
            if st.form_submit_button("Create", type="primary"):
                created = attempt(
                    "Creating the dataset", client.create_dataset, name.strip(), version.strip(), description.strip()
                )
                if created is not None:
                    st.session_state["flash"] = f"Created {name.strip()}@{version.strip()} (a draft)."
                    st.rerun()
    if flash := st.session_state.get("flash"):  # the last action's outcome, until the next one
        st.success(flash)


def entries_panel(client: ApiClient, name: str, version: str, status: str) -> None:
    key = f"entries-{name}@{version}"
    page, number = load_page(key, "the entries", partial(client.dataset_version, name, version), page_size=PAGE_SIZE)
    st.caption(
        f"{page['entry_count']} entries · {status}"
        + (" (frozen: branch a new version to change it)" if status == "published" else " (editable)")
        + f" · page {number}"
    )
    for entry in page["entries"]:
        entry_card(client, name, version, status, entry)
    if not page["entries"]:
        st.info("This version has no entries yet.")
    page_buttons(key, page, back="← Previous page", forward="Next page →")


def entry_card(client: ApiClient, name: str, version: str, status: str, entry: Json) -> None:
    expected = entry["expected_output"]
    form = expected.get("form") or {}
    shown = shown_type(client, type_ref_of(entry, expected), expected)  # an entry stores its type as name@n
    with st.container(border=True):
        picture, details = st.columns([1, 3])
        with picture:
            image = attempt(
                "Loading the image",
                _entry_image,
                client,
                name,
                version,
                entry["id"],
                entry["input"].get("image_sha256"),
            )
            if image:
                st.image(image, width=180)
        with details:
            st.markdown(
                f"**{entry['id']}** · {form.get('constituency_name') or 'unnamed'} · form type `{shown.ref}`"
                + (" · ✅ validated" if entry.get("validated") else " · not validated")
                + f" · from {entry.get('source', {}).get('kind', '?')}"
            )
            rows = vote_rows(expected)
            st.caption(rows_in_brief(rows))
            st.caption(" · ".join(f"{literal(label)} {value}" for _, label, value in statistic_values(expected, shown)))
            st.caption(checks_summary(entry.get("checks")))
    if status == "draft":
        with st.expander(f"Edit the expected output of {entry['id']}"):
            edit_form(client, name, version, entry, shown)


def rows_in_brief(rows: list[Json]) -> str:
    """The rows with a count, and how many were left blank (most of an EC8A's party rows are)."""
    counted = [f"{literal(r['candidate'])} {r['votes']}" for r in rows if r["votes"] is not None]
    blank = len(rows) - len(counted)
    if not rows:
        return "no vote results"
    return "; ".join(counted) + (f" ({blank} rows blank)" if blank else "")


def checks_summary(checks: list[Json] | None) -> str:
    """The entry's rule verdicts in one line, naming the rules that fail on the paper itself."""
    if checks is None:
        return "Checks: not given by the API for this entry."
    if not checks:
        return "Checks: its form type has no rules."
    counts = {status: [c["rule"] for c in checks if c.get("status") == status] for status in VERDICTS}
    parts = [f"{VERDICTS['pass']} {len(counts['pass'])}"]
    if counts["fail"]:
        parts.append(f"{VERDICTS['fail']}: {', '.join(counts['fail'])}")
    if counts["not_checked"]:
        parts.append(f"{VERDICTS['not_checked']}: {', '.join(counts['not_checked'])}")
    return "Checks on the expected output: " + " · ".join(parts)


def edit_form(client: ApiClient, name: str, version: str, entry: Json, shown: ShownType) -> None:
    expected = entry["expected_output"]
    if shown.note:
        st.caption(shown.note)
    checks_table(entry.get("checks") or [], title="Each rule on this expected output (as saved)")
    with st.form(f"edit-{entry['id']}"):
        st.markdown(f"**{shown.form_type.get('title') or shown.ref}**: its numbers, labelled as the paper prints them")
        new_stats = statistics_inputs(statistic_values(expected, shown), key=entry["id"])
        rows = votes_editor(vote_rows(expected), shown, key=f"rows-{entry['id']}", candidates_fixed=False)
        validated = st.checkbox("Validated by a person", value=bool(entry.get("validated")), key=f"{entry['id']}-ok")
        if st.form_submit_button("Save", type="primary"):
            output = expected_output_of(expected, rows, new_stats, shown)
            saved = attempt(
                "Saving the entry",
                client.update_entry,
                name,
                version,
                entry["id"],
                {"expected_output": output, "validated": validated},
            )
            if saved is not None:
                failing = [c["rule"] for c in saved.get("checks") or [] if c.get("status") == "fail"]
                st.session_state["flash"] = f"Saved entry {entry['id']}." + (
                    f" Its own arithmetic fails {', '.join(failing)}: the paper says so, or a number is mistyped."
                    if failing
                    else ""
                )
                st.rerun()


def expected_output_of(expected: Json, rows: list[Json], stats: Json, shown: ShownType) -> Json:
    """The edited expected output: candidate rows, and the type's statistics by key (`generic`
    also keeps `ballot_stats`, which its older clients read)."""
    statistics = {key: None if value is None else int(value) for key, value in stats.items()}
    output: Json = {
        "form": expected.get("form") or {},
        "vote_results": [
            {
                "candidate_name": str(row["candidate"]).strip(),
                "party": (row.get("party") or None),
                "vote_count": None if row.get("votes") is None else int(row["votes"]),
                **({"vote_count_words": (row.get("words") or "").strip() or None} if shown.has_words else {}),
            }
            for row in rows
            if str(row.get("candidate") or "").strip()
        ],
        "statistics": statistics,
    }
    if shown.form_type["name"] == GENERIC:
        output["ballot_stats"] = statistics
    return output


def versions_panel(client: ApiClient, name: str, version: str, status: str) -> None:
    if status == "draft":
        st.markdown(f"Publishing freezes **{name}@{version}**: no entry can be added, edited or removed after.")
        sure = st.checkbox(f"Yes, freeze {name}@{version}", key=f"sure-{name}@{version}")
        if st.button("Publish", type="primary", disabled=not sure, key=f"publish-{name}@{version}"):
            if attempt("Publishing", client.publish, name, version) is not None:
                st.session_state["flash"] = f"Published {name}@{version}."
                st.rerun()
    else:
        st.markdown(f"**{name}@{version}** is published and frozen.")
    with st.form(f"branch-{name}@{version}"):
        new = st.text_input("New draft version, with the same entries", placeholder="v2")
        if st.form_submit_button("Create the new version"):
            made = attempt("Creating the version", client.new_version, name, version, new.strip())
            if made is not None:
                st.session_state["flash"] = f"Created {name}@{new.strip()} from {version}."
                st.session_state["show-version"] = f"{name}@{new.strip()}"
                st.rerun()


def delete_panel(client: ApiClient, name: str, version: str, status: str, labels: list[str]) -> None:
    """The draft, or the whole dataset (the API refuses one with a published version, and says why)."""
    if status == "draft":
        st.markdown(f"Deleting the draft **{name}@{version}** deletes its entries; their images stay.")
        delete_button(
            f"draft {name}@{version}",
            f"version-{name}@{version}",
            client.delete_version,
            name,
            version,
            then_choose=_another_version(labels, lambda label: label == f"{name}@{version}"),
        )
    else:
        st.caption(f"{name}@{version} is published: experiments pin it, so it is never deleted.")
    st.markdown(f"Deleting the dataset **{name}** deletes all its drafts; one with a published version is kept.")
    delete_button(
        f"dataset {name}",
        f"dataset-{name}",
        client.delete_dataset,
        name,
        then_choose=_another_version(labels, lambda label: label.split("@", 1)[0] == name),
    )


def _another_version(labels: list[str], deleted: Callable[[str], bool]) -> dict[str, str]:
    """The version picker's next value once these are gone (nothing when none is left)."""
    left = [label for label in labels if not deleted(label)]
    return {"chosen-version": left[0]} if left else {}


def diff_panel(client: ApiClient, name: str, versions: list[str]) -> None:
    if len(versions) < 2:
        st.info(f"{name} has one version: branch a new one to compare.")
        return
    left, right = st.columns(2)
    old = left.selectbox("From", versions, index=0, key=f"diff-from-{name}")
    new = right.selectbox("To", versions, index=len(versions) - 1, key=f"diff-to-{name}")
    if st.button("Compare", key=f"diff-{name}"):
        found = attempt("The diff", client.diff, name, old, new)
        if found is not None:
            st.session_state[f"diff-{name}-answer"] = (old, new, found)
    answer = st.session_state.get(f"diff-{name}-answer")
    if answer:
        old, new, found = answer
        st.markdown(
            f"From **{old}** to **{new}**: {len(found['added'])} added, {len(found['removed'])} removed, "
            f"{len(found['changed'])} changed."
        )
        st.table(
            [{"change": kind, "entries": ", ".join(found[kind]) or "—"} for kind in ("added", "removed", "changed")]
        )


def import_export_panel(client: ApiClient, name: str, version: str, status: str) -> None:
    left, right = st.columns(2)
    with left:
        st.markdown("**Import** (JSONL, one entry a line, or CSV)")
        if status != "draft":
            st.caption("Published versions take no imports: branch a new version first.")
        else:
            upload = st.file_uploader(
                "Entries file", type=["jsonl", "ndjson", "json", "csv"], key=f"import-{name}@{version}"
            )
            if upload is not None and st.button("Import", key=f"do-import-{name}@{version}"):
                report = attempt(
                    "The import",
                    client.import_entries,
                    name,
                    version,
                    upload.getvalue(),
                    csv=upload.name.lower().endswith(".csv"),
                )
                if report is not None:
                    st.session_state[f"report-{name}@{version}"] = report
                    st.rerun()  # the entry counts above change
            report = st.session_state.get(f"report-{name}@{version}")
            if report:
                rejected = report.get("rejected_count", len(report["rejected"]))
                say = st.warning if rejected else st.success
                say(f"Imported {report['imported']} entries; rejected {rejected}.")
                if report["rejected"]:
                    st.table([{"line": r["line"], "why": r["reason"]} for r in report["rejected"]])
    with right:
        st.markdown("**Export**")
        fmt = st.radio("Format", ["jsonl", "csv"], horizontal=True, key=f"fmt-{name}@{version}")
        if st.button("Prepare the export", key=f"export-{name}@{version}"):
            st.session_state[f"export-{name}@{version}-{fmt}"] = attempt(
                "The export", client.export, name, version, fmt
            )
        data = st.session_state.get(f"export-{name}@{version}-{fmt}")
        if data is not None:
            st.download_button(
                f"Download {name}-{version}.{fmt}",
                data,
                file_name=f"{name}-{version}.{fmt}",
                mime="application/x-ndjson" if fmt == "jsonl" else "text/csv",
                key=f"dl-{name}@{version}",
            )


@st.cache_data(ttl=3600, show_spinner=False)
def _entry_image(_client: ApiClient, name: str, version: str, entry_id: str, image_sha256: str | None) -> bytes:
    # Keyed by the image's digest too: a replaced entry's new image is never served from the cache.
    return _client.entry_image(name, version, entry_id)


run_page(render)
