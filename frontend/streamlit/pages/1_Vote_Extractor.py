"""Vote Extractor: read a form, see the counts beside the image, say what was wrong.

The person says which paper it is (its form type, from the API's registry; `generic` unless
chosen). The result is shown in that type's shape, and a reading whose checks failed says so
before its numbers. The guide's section 1.2 feedback: thumbs, 1-5 stars and a comment (nothing
preselected: a verdict is the person's), plus corrections sent as `corrections` with only what
changed. Each shown extraction gets one `feedback_id`, so a double click or a rerun re-sends the
same feedback (the API answers the first record) instead of a second.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import streamlit as st
from api_client import ApiClient
from confirm_delete import delete_button, deletion_notice
from console_page import attempt, lazy_tabs, load, load_page, page_buttons, run_page, short_time, start_page
from extract_inputs import prompt_picker, reference_docs_input
from extraction_view import corrections_editor, show_extraction
from form_type_view import GENERIC, describe_type, reading_type, registry_types

Json = dict[str, Any]
CHECK_LABELS = ("consistency", "figures_match_words")
FEEDBACK_FILTERS = {
    "any": None,
    "thumbs down": "thumbs_down",
    "thumbs up": "thumbs_up",
    "corrected": "corrected",
    "no feedback": "none",
}


def render() -> None:
    client = start_page("Vote Extractor", "🗳️")
    options = load("the models and prompts", client.options)
    lazy_tabs(
        "extractor-tab",
        {
            "Extract a form": lambda: extract_panel(client, options),
            "Recent extractions": lambda: recent_panel(client, options),
        },
    )


def extract_panel(client: ApiClient, options: Json) -> None:
    models = [model["id"] for model in options["models"]]
    model_column, prompt_column = st.columns(2)
    model = model_column.selectbox("Model", models, index=_index(models, options.get("default_model")))
    prompt = prompt_picker(prompt_column, options)
    params = _param_inputs(next(m for m in options["models"] if m["id"] == model).get("params") or {})
    form_type = form_type_picker(client, options.get("default_form_type") or GENERIC)

    upload_column, sample_column = st.columns([3, 2])
    with upload_column:
        upload = st.file_uploader("Form image (PNG, JPEG, WebP or TIFF, at most 10 MB)", key="upload")
    with sample_column:
        seed = st.number_input("Sample form seed", min_value=0, max_value=999_999, value=7, step=1)
        if st.button("Generate a sample form", key="sample"):
            st.session_state["sample_form"] = _sample_form(int(seed), form_type)
    image, filename, content_type = _chosen_image(upload)
    reference_docs, problem = reference_docs_input()  # below the image's uploader, which stays the page's first
    if image is None:
        st.info("Upload a form image, or generate a sample form for a demo.")
    elif problem:
        st.warning(problem)
    elif st.button("Extract", type="primary", key="go"):
        choices = {
            "model": model,
            "prompt_version": prompt,
            "params": params,
            "tags": {"source": "console"},
            "form_type": form_type,
            "reference_docs": reference_docs,
        }
        # One key per request until it is answered: clicking again after an error or a lost answer
        # gets the extraction already made, never a second one; after an answer, a click reads anew.
        request = hashlib.sha256(image + json.dumps(choices, sort_keys=True).encode()).hexdigest()
        keys = st.session_state.setdefault("extract_keys", {})
        with st.spinner("Reading the form..."):
            record = attempt(
                "The extraction",
                client.extract,
                image,
                filename,
                content_type=content_type,
                idempotency_key=keys.setdefault(request, uuid.uuid4().hex),
                **choices,
            )
        if record is not None:
            keys.pop(request, None)
            st.session_state["current"] = record
            st.session_state["current_image"] = image
    record = st.session_state.get("current")
    if record:
        st.divider()
        show_extraction(record, st.session_state.get("current_image"), reading_type(client, record))
        feedback_panel(client, record, key="current")
        dataset_panel(client, record, key="current")


def form_type_picker(client: ApiClient, default: str) -> str | None:
    """The form type the paper is (sent as `form_type`; the API's default until the person picks
    another), and what the registry says of it; None (the API's default) when it lists no types."""
    types, problem = registry_types(client)
    if not types:
        st.caption(problem or f"The registry holds no form types: the form is read as {GENERIC}.")
        return None
    by_name = {form_type["name"]: form_type for form_type in types}
    names = sorted(by_name, key=lambda name: (name != default, name != GENERIC, name))
    chosen = st.selectbox(
        "Form type (which paper this is)",
        names,
        index=0,
        key="form-type",
        format_func=lambda name: f"{name} · {by_name[name].get('title') or ''}".rstrip(" ·"),
    )
    with st.expander(f"What the registry holds for {chosen}, and the other form types"):
        describe_type(by_name[chosen])
        others = [by_name[name] for name in names if name != chosen]
        if others:
            st.caption(
                "Also in the registry: "
                + "; ".join(f"{t['name']}@{t.get('version', 1)} ({t.get('title') or t['name']})" for t in others)
            )
    return chosen


def _chosen_image(upload: Any) -> tuple[bytes | None, str, str]:
    if upload is not None:
        return upload.getvalue(), upload.name, upload.type or "application/octet-stream"
    sample = st.session_state.get("sample_form")
    if sample:
        st.image(sample["image"], caption=f"Sample form {sample['seed']} ({sample['layout']})", width=360)
        return sample["image"], f"sample-{sample['seed']}.png", sample["content_type"]
    return None, "", ""


def _sample_form(seed: int, form_type: str | None) -> Json | None:
    """A synthetic paper of the chosen type (generic: today's generated forms), for a demo."""
    try:
        if form_type and form_type != GENERIC:
            from shared.synthetic.typed_forms import render_form

            paper = render_form(form_type, seed=seed)
            return {"seed": seed, "layout": form_type, "image": paper.image, "content_type": paper.content_type}
        from shared.synthetic.forms import generate_form

        form = generate_form(seed)
    except Exception as error:  # no fonts or no shared package where the console runs
        st.error(f"A sample form cannot be drawn here ({type(error).__name__}); upload an image instead.")
        return None
    return {"seed": seed, "layout": form.layout, "image": form.image, "content_type": form.content_type}


def _param_inputs(declared: Json) -> Json:
    if not declared:
        return {}
    chosen: Json = {}
    columns = st.columns(len(declared))
    for column, (name, spec) in zip(columns, declared.items(), strict=True):
        label = name.replace("_", " ").capitalize()
        if spec.get("type") == "boolean":
            chosen[name] = column.checkbox(label, value=bool(spec.get("default")), key=f"param-{name}")
        elif spec.get("type") in ("integer", "number"):
            # No default means the model's own: an empty box, not 0 (which the API refuses, rightly).
            default = spec.get("default")
            if spec.get("type") == "number" and default is not None:
                default = float(default)
            step = 1 if spec.get("type") == "integer" else 0.1
            chosen[name] = column.number_input(label, value=default, step=step, key=f"param-{name}")
        else:
            chosen[name] = column.text_input(label, value=str(spec.get("default") or ""), key=f"param-{name}")
    return {name: value for name, value in chosen.items() if value is not None and value != ""}


def feedback_panel(client: ApiClient, record: Json, *, key: str) -> None:
    """Thumbs, stars, comment and corrections, sent once per shown extraction."""
    extraction_id = record["extraction_id"]
    if not record.get("span_id"):
        st.caption("This extraction has no trace, so it cannot take feedback.")
        return
    ids = st.session_state.setdefault("feedback_ids", {})
    feedback_id = ids.setdefault(extraction_id, uuid.uuid4().hex)
    sent = st.session_state.setdefault("feedback_sent", {})
    st.subheader("📝 How was this extraction?")
    if extraction_id in sent:
        answer = sent[extraction_id]
        st.success(
            f"Thanks: your feedback is recorded ({answer['feedback_id']})."
            + (" It is now a golden-dataset candidate." if answer.get("golden_candidate") else "")
        )
        if st.button("Give more feedback", key=f"{key}-more"):
            ids[extraction_id] = uuid.uuid4().hex
            del sent[extraction_id]
            st.rerun()
        return
    with st.form(f"{key}-feedback"):
        # Nothing preselected: a verdict or a rating the person did not give is not theirs.
        thumbs = st.radio("Verdict", ["👍 Good", "👎 Poor"], index=None, horizontal=True, key=f"{key}-thumbs")
        stars = st.radio(
            "Quality (1-5 stars, optional)",
            [1, 2, 3, 4, 5],
            index=None,
            horizontal=True,
            format_func=lambda n: "★" * n,
            key=f"{key}-stars",
        )
        comment = st.text_area("Comment (optional)", max_chars=2000, key=f"{key}-comment")
        corrections = corrections_editor(record.get("result"), reading_type(client, record), key=f"{key}-fix")
        submitted = st.form_submit_button("Submit feedback", type="primary")
    if not submitted:
        return
    if thumbs is None:
        st.warning("Choose a verdict, 👍 Good or 👎 Poor, before submitting: nothing was sent.")
        return
    body: Json = {
        "feedback_id": feedback_id,
        "span_id": record["span_id"],
        "trace_id": record["trace_id"],
        "feedback_type": "thumbs_up" if thumbs.startswith("👍") else "thumbs_down",
        "tags": {"page": "vote_extractor", "source": "console"},
    }
    if stars is not None:
        body["quality_score"] = int(stars)
    if comment.strip():
        body["comment"] = comment.strip()
    if corrections:
        body["corrections"] = corrections
    answer = attempt("Sending the feedback", client.feedback, body)
    if answer is not None:
        sent[extraction_id] = answer
        if key == "current":  # show what the API now holds (a correction, a golden candidate)
            st.session_state["current"] = (
                attempt("Reloading the extraction", client.extraction, extraction_id) or record
            )
        st.rerun()


def dataset_panel(client: ApiClient, record: Json, *, key: str) -> None:
    """Add this extraction (its image, and its corrected output if any) to a draft dataset version."""
    if record.get("status") != "succeeded" or not record.get("span_id"):
        return
    with st.expander("Add to a dataset"):
        drafts = load("the datasets", client.version_labels, "draft")
        if not drafts:
            st.info("There is no draft version to add to: create one in the Dataset Manager.")
            return
        target = st.selectbox("Draft version", drafts, key=f"{key}-target")
        if st.button("Add to dataset", key=f"{key}-add"):
            name, version = target.split("@", 1)
            added = attempt(
                "Adding to the dataset", client.from_trace, name, version, record["span_id"], record["trace_id"]
            )
            if added is not None:
                st.success(f"Added to {target} as entry {added['entry_id']}.")


def recent_panel(client: ApiClient, options: Json) -> None:
    deletion_notice()
    columns = st.columns(4)
    status = columns[0].selectbox("Status", ["any", "succeeded", "failed"], key="recent-status")
    model = columns[1].selectbox("Model", ["any", *[m["id"] for m in options["models"]]], key="recent-model")
    feedback = columns[2].selectbox("Feedback", list(FEEDBACK_FILTERS), key="recent-feedback")
    golden = columns[3].checkbox("Golden candidates only", key="recent-golden")
    page, _ = load_page(
        "recent",
        "the recent extractions",
        client.extractions,
        status=None if status == "any" else status,
        model=None if model == "any" else model,
        feedback=FEEDBACK_FILTERS[feedback],
        golden_candidate="true" if golden else None,
        page_size=20,
    )
    items = page["items"]
    if not items:
        st.info("No extraction matches these filters.")
        return
    st.table(
        [
            {
                "when (UTC)": short_time(item.get("created_at")),
                "extraction": item["extraction_id"],
                "status": item["status"],
                "checks": _checks(item),
                "form type": item.get("form_type") or GENERIC,
                "model": item["model"],
                "prompt": item["prompt_version"],
                "thumbs": _thumbs(item),
                "corrected": "yes" if (item.get("feedback_summary") or {}).get("corrected") else "",
                "golden candidate": "yes" if item.get("golden_candidate") else "",
            }
            for item in items
        ],
    )
    page_buttons("recent", page)
    chosen = st.selectbox(
        "Open an extraction",
        [item["extraction_id"] for item in items],
        index=None,
        placeholder="Choose one to see it and give feedback",
        key="recent-open",
    )
    if chosen:
        record = load("the extraction", client.extraction, chosen)
        image = attempt("Loading the image", client.extraction_image, chosen)
        show_extraction(record, image, reading_type(client, record))
        feedback_panel(client, record, key=f"recent-{chosen}")
        dataset_panel(client, record, key=f"recent-{chosen}")
        delete_button(
            f"extraction {chosen}",
            f"extraction-{chosen}",
            client.delete_extraction,
            chosen,
            then_choose={"recent-open": None},
        )


def _checks(item: Json) -> str:
    """Did the reading pass its paper's checks (consistency, and figures against words)?"""
    verdicts = [e.get("value") for e in item.get("evaluations") or [] if e.get("label") in CHECK_LABELS]
    if any(value is False for value in verdicts):
        return "❌ failed"
    return "✅ hold" if verdicts else ""


def _thumbs(item: Json) -> str:
    summary = item.get("feedback_summary") or {}
    return " ".join(
        part
        for part in (
            f"👍 {summary['thumbs_up']}" if summary.get("thumbs_up") else "",
            f"👎 {summary['thumbs_down']}" if summary.get("thumbs_down") else "",
        )
        if part
    )


def _index(values: list[str], wanted: str | None) -> int:
    return values.index(wanted) if wanted in values else 0


run_page(render)
