"""Has a reading passed its own paper's checks? Said first, above its numbers.

The checks are the online evaluations of the reading: `consistency` (every rule of the form
type, its verdict in `details.checks`) and `figures_match_words` (the rows whose words state
another number, in `details.differing`). A model can answer ("succeeded") with numbers that
break the paper's arithmetic; a person must see that before the numbers.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from table_cells import literal

Json = dict[str, Any]


def evaluation(record: Json, label: str) -> Json | None:
    return next((e for e in record.get("evaluations") or [] if e.get("label") == label), None)


def rule_checks(record: Json) -> list[Json]:
    """Every rule's verdict on the reading, as the consistency evaluation lists them."""
    consistency = evaluation(record, "consistency") or {}
    return list((consistency.get("details") or {}).get("checks") or [])


def failed(check: Json | None) -> bool:
    return check is not None and (check.get("assessment") == "fail" or check.get("value") is False)


def check_failures(record: Json) -> list[str]:
    """One sentence per failed check (markdown), empty when the reading passed or was not checked."""
    failures: list[str] = []
    consistency = evaluation(record, "consistency")
    checks = rule_checks(record)
    if consistency is not None and failed(consistency):
        for check in checks:
            if check.get("status") == "fail":
                warning = " (a warning)" if check.get("severity") == "warning" else ""
                failures.append(f"`{check.get('rule')}`{warning}: {literal(check.get('detail') or 'fails')}")
            elif check.get("status") == "not_checked":
                missing = literal(check.get("detail") or "a number is missing")
                failures.append(f"`{check.get('rule')}` could not be checked: {missing}")
        if not checks:  # a record from before form types: only the evaluator's sentence
            failures.append(f"consistency: {literal(consistency.get('reasoning') or 'the sums do not add up')}")
    words = evaluation(record, "figures_match_words")
    if words is not None and failed(words):
        differing = (words.get("details") or {}).get("differing") or []
        if differing:
            failures.extend(f"`figures_match_words`: figures and words differ, {literal(row)}" for row in differing)
        else:
            failures.append(f"`figures_match_words`: {literal(words.get('reasoning') or 'figures and words differ')}")
    return failures


def warnings_only(record: Json) -> list[str]:
    """Failing warning rules on a reading whose checks passed otherwise (worth a look, not a stop)."""
    if failed(evaluation(record, "consistency")):
        return []
    return [
        f"`{check.get('rule')}`: {literal(check.get('detail') or 'fails')}"
        for check in rule_checks(record)
        if check.get("status") == "fail" and check.get("severity") == "warning"
    ]


def show_check_verdict_first(record: Json) -> bool:
    """The banner above a reading's numbers when its checks failed; True when it was shown."""
    if record.get("status") != "succeeded":
        return False
    failures = check_failures(record)
    if failures:
        st.error(
            "**Read, but its checks failed:**\n"
            + "\n".join(f"- {failure}" for failure in failures)
            + "\n\n**Look at it before using these numbers**: compare them with the image, and correct them below.",
            icon="⛔",
        )
        return True
    warnings = warnings_only(record)
    if warnings:
        st.warning(
            "Read; its error checks hold, but a warning check fails:\n" + "\n".join(f"- {w}" for w in warnings),
            icon="⚠️",
        )
    return False
