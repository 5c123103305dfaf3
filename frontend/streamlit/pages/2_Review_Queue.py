"""Review Queue: people turn real traffic into golden data, and check the automatic evaluators.

Items are extractions that need a person (golden candidates, thumbs down, failed consistency,
a low output classification, a second reading that disagrees: `cross_check`, whose disagreeing
fields are highlighted for the reviewer, each beside its crop of the form: `field_crops`; so are
the counts a person corrected). The reading is shown in its form type: statistics by
their printed labels, each rule's verdict, a failed check said first. A reviewer claims the next
one under a lease (nobody else gets it meanwhile), compares the image with the result, and
approves it into a draft dataset version (corrected first if need be), rejects it, or skips it. The agreement table
says how often the online evaluators agree with the reviewers' verdicts.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from api_client import ApiClient, ApiError, ApiUnreachable
from console_page import attempt, load, run_page, short_time, start_page, unreachable_banner
from extraction_view import corrections_editor, show_extraction
from field_crops import corrected_fields, disagreement_fields, show_fields_on_paper
from form_type_view import reading_type

Json = dict[str, Any]
REASONS = (  # as the API names them
    "golden_candidate",
    "thumbs_down",
    "consistency_failed",
    "classification_low",
    "cross_check",
)
STATES = ("pending", "claimed", "done")


def render() -> None:
    client = start_page("Review Queue", "🧑‍⚖️")
    reviewer = st.text_input(
        "Your name (recorded with every decision)", key="reviewer", max_chars=100, placeholder="e.g. ada"
    ).strip()
    queue = load("the review queue", client.review_queue, state="pending")
    show_counts(queue.get("counts") or {})
    claim = st.session_state.get("held_claim")
    if claim is None:
        # A reviewer's own live claims (held before a reload, say) can be taken up again.
        held = load("the claimed items", client.review_queue, state="claimed") if reviewer else {"items": []}
        mine = [item["extraction_id"] for item in held.get("items", []) if _is_mine(item.get("claimed_by"), reviewer)]
        claim_panel(client, reviewer, mine + [item["extraction_id"] for item in queue.get("items", [])])
    else:
        review_panel(client, reviewer, claim)
    st.divider()
    agreement_panel(client)


def show_counts(counts: Json) -> None:
    reasons = [reason for reason in REASONS if reason in counts] + sorted(set(counts) - set(REASONS))
    if not reasons:
        st.info("The queue is empty: extractions land here when they need a person.")
        return
    st.table(
        [
            {"Reason": reason.replace("_", " "), **{state: counts[reason].get(state, 0) for state in STATES}}
            for reason in reasons
        ]
    )


def _is_mine(claimed_by: str | None, reviewer: str) -> bool:
    """The API records the console's delegating key as `<key name>:<person>` (a local plain key:
    the name as typed); a claim that is not really ours is refused by the API anyway."""
    return bool(claimed_by) and (claimed_by == reviewer or str(claimed_by).endswith(f":{reviewer}"))


def claim_panel(client: ApiClient, reviewer: str, pending: list[str]) -> None:
    next_column, named_column = st.columns(2)
    with next_column:
        reason = st.selectbox(
            "Reason", ["any", *REASONS], key="claim-reason", format_func=lambda r: r.replace("_", " ")
        )
        if st.button("Claim the next item", type="primary", key="claim", disabled=not reviewer):
            wanted = None if reason == "any" else reason
            _claim(client, reviewer, reason=wanted, nothing=f"Nothing is pending{_for(wanted)}.")
    with named_column:
        chosen = st.selectbox(
            "Or a pending item (or one of your claims)",
            pending,
            index=None,
            key="claim-named",
            placeholder="Choose an extraction",
        )
        if st.button("Claim this item", key="claim-this", disabled=not (reviewer and chosen)):
            _claim(client, reviewer, extraction_id=chosen, nothing="That item is no longer pending.")
    if not reviewer:
        st.caption("Enter your name to claim items.")


def _claim(client: ApiClient, reviewer: str, *, nothing: str, **which: str | None) -> None:
    try:
        claimed = client.claim(reviewer, **which)
    except ApiUnreachable as error:
        unreachable_banner(error)
        return
    except ApiError as error:
        st.error(f"Claiming failed: {error.message}")
        return
    if claimed is None:  # 204: nothing pending
        st.info(nothing)
        return
    st.session_state["held_claim"] = claimed
    st.rerun()


def _for(reason: str | None) -> str:
    return f" for {reason.replace('_', ' ')}" if reason else ""


def review_panel(client: ApiClient, reviewer: str, claim: Json) -> None:
    item, record = claim["item"], claim["extraction"]
    extraction_id = item["extraction_id"]
    st.subheader(f"Reviewing {extraction_id}")
    st.markdown(
        "Why it is here: "
        + ", ".join(f"**{r.replace('_', ' ')}**" for r in item.get("reasons", []))
        + f" · your claim holds until {short_time(claim.get('claim_expires_at'))} UTC"
    )
    image = _image(client, extraction_id)
    shown = reading_type(client, record)
    show_extraction(record, image, shown, also_first=lambda: show_disagreements(item, record, image))
    feedback = attempt("Loading its feedback", client.feedback_for, extraction_id) or []
    for given in feedback:
        st.caption(
            f"Feedback: {given['feedback_type'].replace('_', ' ')}"
            + (f", {given['quality_score']} stars" if given.get("quality_score") else "")
            + (f": “{given['comment']}”" if given.get("comment") else "")
        )
    drafts = load("the datasets", client.version_labels, "draft")
    with st.form("decision"):
        st.markdown("**Your decision**")
        corrections = corrections_editor(record.get("result"), shown, key=f"review-{extraction_id}")
        target = st.selectbox("Approve into (a draft version)", drafts, key="review-target") if drafts else None
        note = st.text_input("Note (optional)", max_chars=500, key="review-note")
        approve, reject, skip = st.columns(3)
        approved = approve.form_submit_button("Approve", type="primary", disabled=not drafts)
        rejected = reject.form_submit_button("Reject")
        skipped = skip.form_submit_button("Skip")
    if not drafts:
        st.caption("There is no draft version to approve into: create one in the Dataset Manager.")
    decision = "approve" if approved else "reject" if rejected else "skip" if skipped else None
    if decision is None:
        return
    body: Json = {"reviewer": reviewer, "decision": decision}
    if note.strip():
        body["note"] = note.strip()
    if decision == "approve":
        name, version = str(target).split("@", 1)
        body["target"] = {"name": name, "version": version}
        if corrections:
            body["corrections"] = corrections
    answer = attempt("The decision", client.decide, extraction_id, body)
    if answer is not None:
        st.session_state.pop("held_claim", None)
        st.session_state["last_decision"] = (extraction_id, decision, answer.get("entry_id"))
        st.rerun()


def disagreements_of(item: Json, record: Json) -> list[Json]:
    """The fields a second reading disagreed on: the item's, else the record's cross_check evaluation's."""
    if item.get("cross_check_fields"):
        return list(item["cross_check_fields"])
    for evaluation in record.get("evaluations") or []:
        if evaluation.get("label") == "cross_check" and evaluation.get("assessment") == "fail":
            return list((evaluation.get("details") or {}).get("disagreements") or [])
    return []


def show_disagreements(item: Json, record: Json, image: bytes | None = None) -> None:
    """Highlight the vote counts a second, independent reading read differently, and the ones a
    person corrected, each beside its crop of the form: check those first."""
    show_fields_on_paper(
        record,
        image,
        corrected_fields(record.get("result"), record.get("corrected_result")),
        title="Corrected by a person: each count where it is on the paper",
    )
    disagreements = disagreements_of(item, record)
    if not disagreements:
        return
    reader = next(
        (
            (e.get("details") or {}).get("reader")
            for e in record.get("evaluations") or []
            if e.get("label") == "cross_check"
        ),
        None,
    )
    st.warning(
        f"A second reading{f' by {reader}' if reader else ''} disagrees on {len(disagreements)} "
        "field(s): check these against the image first."
    )
    st.table(
        [
            {
                "field": d.get("field"),
                "this extraction": "—" if d.get("primary") is None else d.get("primary"),
                "second reading": "—" if d.get("second") is None else d.get("second"),
                "why": d.get("why", ""),
            }
            for d in disagreements
        ]
    )
    show_fields_on_paper(
        record, image, disagreement_fields(disagreements), title="Where on the paper: each disagreeing count"
    )


def agreement_panel(client: ApiClient) -> None:
    st.subheader("Do the automatic evaluators agree with the reviewers?")
    last = st.session_state.get("last_decision")
    if last:
        extraction_id, decision, entry_id = last
        st.success(f"Recorded: {decision} for {extraction_id}" + (f" (entry {entry_id})." if entry_id else "."))
    agreement = attempt("Loading the agreement", client.agreement)
    if not agreement:
        return
    evaluators = agreement.get("evaluators") or []
    if not agreement.get("n"):
        st.info("No decisions yet: agreement needs reviewed items.")
        return
    st.caption(
        f"{agreement['n']} decided items. An evaluator's pass is right when the reviewer approved the "
        "extraction as it was; corrected or rejected means it was wrong. Kappa: 1 perfect, 0 chance, below 0 worse."
    )
    for column, report in zip(st.columns(len(evaluators)), evaluators, strict=True):
        with column:
            kappa = report.get("kappa")
            st.metric(
                f"{report['label']}: Cohen's kappa",
                "—" if kappa is None else f"{kappa:.2f}",
                help=report.get("kappa_undefined_reason"),
            )
            agreed = report.get("observed_agreement")
            st.caption(
                f"{report.get('n', 0)} reviewed extractions"
                + ("" if agreed is None else f", agreeing on {100 * agreed:.0f}%")
                + (
                    f" ({report['kappa_undefined_reason']})"
                    if kappa is None and report.get("kappa_undefined_reason")
                    else ""
                )
            )
            table = report.get("table") or {}
            if table:
                st.table(
                    [
                        {
                            "evaluator said": said,
                            "reviewer: right": cells.get("right", 0),
                            "reviewer: wrong": cells.get("wrong", 0),
                        }
                        for said, cells in table.items()
                    ]
                )


@st.cache_data(ttl=600, show_spinner=False)
def _image_bytes(_client: ApiClient, extraction_id: str) -> bytes:
    return _client.extraction_image(extraction_id)


def _image(client: ApiClient, extraction_id: str) -> bytes | None:
    return attempt("Loading the image", _image_bytes, client, extraction_id)


run_page(render)
