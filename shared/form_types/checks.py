"""A form type applied to one reading: its statistics, each rule's verdict, figures against words.

The same checks judge a model's output (the `consistency` and `figures_match_words` evaluators)
and a golden entry's expected output (an entry's `checks`): a rule that fails on the paper
itself is information (an over-voted station), not an error to hide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.form_types.model import GENERIC, FormType
from shared.form_types.rules import CheckStatus
from shared.form_types.words import WORD_LANGUAGES, parse_number_words
from shared.models import BallotStats, VoteExtraction


@dataclass(frozen=True)
class Check:
    """One rule's verdict on one reading."""

    rule: str
    status: CheckStatus
    severity: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "status": self.status, "severity": self.severity, "detail": self.detail}


def statistics_of(extraction: VoteExtraction, form_type: FormType) -> dict[str, int | None]:
    """The type's statistics as this reading states them (key -> int or None), in the paper's order."""
    stated = extraction.stated_statistics()
    return {key: stated.get(key) for key in form_type.keys}


def votes_sum(extraction: VoteExtraction) -> int | None:
    """The candidate rows' total: the rows that have a count; None when none has."""
    counts = [row.vote_count for row in extraction.vote_results if row.vote_count is not None]
    return sum(counts) if counts else None


def check_rules(form_type: FormType, extraction: VoteExtraction) -> list[Check]:
    """Every rule's verdict on `extraction`, in the type's order."""
    values = statistics_of(extraction, form_type)
    total = votes_sum(extraction)
    checks = []
    for spec, rule in form_type.parsed_rules:
        status, _, _ = rule.check(values, total)
        checks.append(Check(spec.id, status, spec.severity, rule.explain(values, total)))
    return checks


def failed_errors(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "fail" and c.severity == "error"]


@dataclass(frozen=True)
class WordsComparison:
    """Figures against words, row by row: which rows differ, which could not be compared."""

    compared: int
    differing: tuple[str, ...]  # sentences: "APC: figures 203, words 'TWO HUNDRED AND TWO' (202)"
    unreadable: tuple[str, ...]  # rows whose words state no number in the type's language


def compare_figures_and_words(form_type: FormType, extraction: VoteExtraction) -> WordsComparison:
    """Each row with both a figure and words: do they state the same count?"""
    language = form_type.language if form_type.language in WORD_LANGUAGES else "en"
    compared, differing, unreadable = 0, [], []
    for row in extraction.vote_results:
        if row.vote_count_words is None or not row.vote_count_words.strip():
            continue
        in_words = parse_number_words(row.vote_count_words, language)
        name = row.party or row.candidate_name
        if in_words is None:
            unreadable.append(f"{name}: {row.vote_count_words!r}")
        elif row.vote_count is not None:
            compared += 1
            if in_words != row.vote_count:
                differing.append(f"{name}: figures {row.vote_count}, words {row.vote_count_words!r} ({in_words})")
    return WordsComparison(compared, tuple(differing), tuple(unreadable))


def shaped(extraction: VoteExtraction, form_type: FormType) -> VoteExtraction:
    """A reading in its type's shape: `statistics` holds exactly the type's keys; `generic` also
    keeps `ballot_stats` (its clients read it); words only where the type has them; a type other
    than `generic` is named in `form.form_type` (`name@n`), so a golden entry made from it knows
    its paper."""
    values = statistics_of(extraction, form_type)
    update: dict[str, Any] = {"statistics": values}
    if form_type.name == GENERIC:
        update["ballot_stats"] = BallotStats(**values)
    else:
        update["ballot_stats"] = BallotStats()
        update["form"] = extraction.form.model_copy(update={"form_type": form_type.ref})
    if not form_type.figures_in_words and any(r.vote_count_words for r in extraction.vote_results):
        update["vote_results"] = [r.model_copy(update={"vote_count_words": None}) for r in extraction.vote_results]
    return extraction.model_copy(update=update)
