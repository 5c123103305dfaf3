"""Form types as a person sees them: what the registry holds, a reading's statistics by their
printed labels, and each rule's verdict on it.

A form type is the API's (`GET /extract/form-types`, API.md "form types"): its statistics in the
paper's order with the labels as printed, whether counts are also written in words, its rules.
Where the API cannot say (an API from before form types, a type it no longer serves), a reading
is still shown: as `generic` by the contract's fixed labels, or by the keys it carries, with one
sentence saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import streamlit as st
from api_client import ApiClient, ApiError
from table_cells import literal

Json = dict[str, Any]
GENERIC = "generic"
# The contract's default type (API.md: its keys are fixed), used when the API cannot be asked.
GENERIC_TYPE: Json = {
    "name": GENERIC,
    "version": 1,
    "title": "Generic result form (candidate rows, valid / rejected / total)",
    "language": "en",
    "statistics": [
        {"key": "valid_votes", "label": "Valid votes"},
        {"key": "rejected_ballots", "label": "Rejected ballots"},
        {"key": "total_ballots", "label": "Total ballots"},
    ],
    "figures_in_words": False,
    "rules": [
        {"id": "valid_is_sum_of_votes", "expr": "valid_votes == sum(votes)", "severity": "error"},
        {
            "id": "total_is_valid_plus_rejected",
            "expr": "valid_votes + rejected_ballots == total_ballots",
            "severity": "error",
        },
    ],
}
# `name` or `name@n` (API.md): an expected output from before form types holds the paper's printed
# name in `form.form_type` ("Form 34A"), which names no type and reads as generic.
TYPE_REF = re.compile(r"[a-z][a-z0-9_]{0,39}(@[1-9][0-9]{0,5})?")
VERDICTS = {"pass": "✅ holds", "fail": "❌ fails", "not_checked": "➖ not checked"}


@dataclass(frozen=True)
class ShownType:
    """The form type a reading is shown by, and, when it is not the registry's, why."""

    form_type: Json
    note: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.form_type['name']}@{self.form_type.get('version', 1)}"

    @property
    def statistics(self) -> list[Json]:
        return list(self.form_type.get("statistics") or [])

    @property
    def has_words(self) -> bool:
        return bool(self.form_type.get("figures_in_words"))


def type_ref_of(record: Json | None = None, output: Json | None = None) -> str:
    """The type a record (its `form_type`, else the one its consistency check judged against) or
    an expected output (`form.form_type`) names, as `name@n` or `name`; `generic` when none."""
    record = record or {}
    consistency: Json = next((e for e in record.get("evaluations") or [] if e.get("label") == "consistency"), {})
    for named in (
        record.get("form_type"),
        (consistency.get("details") or {}).get("form_type"),
        ((output or {}).get("form") or {}).get("form_type"),
    ):
        if isinstance(named, str) and TYPE_REF.fullmatch(named):
            return named
    return GENERIC


def printed_form_name(output: Json | None) -> str | None:
    """The paper's own printed name in `form.form_type` ("Form 34A") when it names no form type."""
    text = ((output or {}).get("form") or {}).get("form_type")
    return text if isinstance(text, str) and text and not TYPE_REF.fullmatch(text) else None


def shown_type(client: ApiClient, ref: str, output: Json | None = None) -> ShownType:
    """The registry's form type `ref`; if the API cannot answer, the best stand-in and a sentence."""
    try:
        return ShownType(_registry_type(client, client.base_url, ref))
    except ApiError as error:
        reason, status = error.message, error.status
    name = ref.split("@", 1)[0]
    if name == GENERIC:  # an API from before form types has no registry: generic is the contract's
        return ShownType(GENERIC_TYPE, None if status == 404 else f"Form type {ref}: {reason}")
    return ShownType(
        _type_from_output(ref, output),
        f"The form type {ref} could not be loaded ({reason}): its statistics are shown by key.",
    )


def reading_type(client: ApiClient, record: Json) -> ShownType:
    """The form type an extraction record was read as."""
    return shown_type(client, type_ref_of(record, record.get("result")), record.get("result"))


@st.cache_data(ttl=600, show_spinner=False)
def _registry_type(_client: ApiClient, base_url: str, ref: str) -> Json:
    # A `name@n` never changes (versions are immutable); a bare name moves, hence the expiry.
    return _client.form_type(ref)


def _type_from_output(ref: str, output: Json | None) -> Json:
    output = output or {}
    keys = list(output.get("statistics") or {}) or list(output.get("ballot_stats") or {})
    name, _, version = ref.partition("@")
    return {
        "name": name,
        "version": int(version) if version.isdigit() else 1,
        "title": name,
        "statistics": [{"key": key, "label": key.replace("_", " ").capitalize()} for key in keys],
        "figures_in_words": any(row.get("vote_count_words") for row in output.get("vote_results") or []),
        "rules": [],
    }


def registry_types(client: ApiClient) -> tuple[list[Json], str | None]:
    """Every form type the registry holds (latest versions), or none and a sentence saying why."""
    try:
        return _listed_types(client, client.base_url), None
    except ApiError as error:
        if error.status in (404, 405):  # an API from before form types
            return [], f"This API does not list form types yet: the form is read as {GENERIC}."
        return [], f"The form types could not be loaded ({error.message}): the form is read as {GENERIC}."


@st.cache_data(ttl=60, show_spinner=False)
def _listed_types(_client: ApiClient, base_url: str) -> list[Json]:
    return _client.form_types()


def statistic_values(output: Json | None, shown: ShownType) -> list[tuple[str, str, int | None]]:
    """(key, printed label, value) for each of the type's statistics, in the paper's order; a
    reading made before form types states the generic three in `ballot_stats` only."""
    output = output or {}
    stated = {**(output.get("ballot_stats") or {}), **(output.get("statistics") or {})}
    for key, value in (output.get("ballot_stats") or {}).items():
        if stated.get(key) is None:
            stated[key] = value
    return [(s["key"], s["label"], stated.get(s["key"])) for s in shown.statistics]


def describe_type(form_type: Json) -> None:
    """What a form type says about its paper: title, country, language, statistics, rules."""
    facts = [
        f"**{form_type.get('title') or form_type['name']}**",
        f"`{form_type['name']}@{form_type.get('version', 1)}`",
    ]
    if form_type.get("country"):
        facts.append(f"country {form_type['country']}")
    facts.append(f"language {form_type.get('language') or '?'}")
    facts.append("counts in figures and in words" if form_type.get("figures_in_words") else "counts in figures")
    st.markdown(" · ".join(facts))
    st.table(
        [
            {"Row": index, "Printed label": literal(s["label"]), "Key": literal(s["key"])}
            for index, s in enumerate(form_type.get("statistics") or [], start=1)
        ]
    )
    rules = form_type.get("rules") or []
    if rules:
        described = any(rule.get("description") for rule in rules)
        st.table(
            [
                {
                    "Rule": literal(rule["id"]),
                    "Arithmetic": literal(rule["expr"]),
                    "Severity": rule.get("severity", "error"),
                    **({"Means": literal(rule.get("description") or "")} if described else {}),
                }
                for rule in rules
            ]
        )
    else:
        st.caption("This form type has no arithmetic rules.")


def checks_table(checks: list[Json], *, title: str) -> None:
    """Each rule's verdict (pass / fail / not checked) with its detail sentence."""
    if not checks:
        return
    st.markdown(f"**{title}**")
    st.table(
        [
            {
                "Rule": literal(check.get("rule")),
                "Verdict": VERDICTS.get(str(check.get("status")), literal(str(check.get("status")))),
                "Severity": literal(check.get("severity") or ""),
                "Detail": literal(check.get("detail") or ""),
            }
            for check in checks
        ]
    )
