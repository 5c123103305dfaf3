"""Field-by-field comparison of an extraction with its expected output.

Candidates are matched by name, tolerant of case, spacing and punctuation (and of a small typo,
so one misread letter does not also cost the candidate's vote count).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from shared.form_types.resolve import declared_form_type, is_generic
from shared.models import VoteExtraction, VoteResult

_FUZZY_NAME_RATIO = 0.85
BALLOT_FIELDS = ("valid_votes", "rejected_ballots", "total_ballots")
STATISTIC_PREFIXES = ("ballot_stats.", "statistics.")


def statistic_paths(expected: VoteExtraction) -> dict[str, str]:
    """`{key: field path}` for every statistic `expected` states (non-null). A `generic` paper's
    three keep their `ballot_stats.` paths (as before form types); every other statistic is
    `statistics.<key>`."""
    generic = is_generic(declared_form_type(expected))
    return {
        key: statistic_path(key, generic=generic)
        for key, value in expected.stated_statistics().items()
        if value is not None
    }


def statistic_path(key: str, *, generic: bool) -> str:
    return f"ballot_stats.{key}" if generic and key in BALLOT_FIELDS else f"statistics.{key}"


def is_statistic_path(path: str) -> bool:
    return path.startswith(STATISTIC_PREFIXES)


def normalise_name(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", folded.lower()).split())


def match_candidates(
    predicted: list[VoteResult], expected: list[VoteResult], *, fuzzy_names: bool = True
) -> list[tuple[VoteResult, VoteResult | None]]:
    """Pair each expected candidate with at most one predicted candidate (exact name, then fuzzy)."""
    remaining = {i: normalise_name(p.candidate_name) for i, p in enumerate(predicted)}
    pairs: list[tuple[VoteResult, VoteResult | None]] = []
    unmatched: list[tuple[int, VoteResult]] = []
    for position, want in enumerate(expected):
        key = normalise_name(want.candidate_name)
        index = next((i for i, name in remaining.items() if name == key), None)
        if index is None:
            unmatched.append((position, want))
            pairs.append((want, None))
            continue
        del remaining[index]
        pairs.append((want, predicted[index]))
    for position, want in unmatched if fuzzy_names else []:
        key = normalise_name(want.candidate_name)
        scored = [(SequenceMatcher(None, key, name).ratio(), i) for i, name in remaining.items()]
        if scored:
            ratio, index = max(scored)
            if ratio >= _FUZZY_NAME_RATIO:
                del remaining[index]
                pairs[position] = (want, predicted[index])
    return pairs


@dataclass(frozen=True)
class FieldComparison:
    """Which expected fields the prediction got right.

    `fields` maps a field path (e.g. `vote_results[Jane Doe].vote_count`,
    `ballot_stats.valid_votes`, `statistics.accredited_voters`) to whether it matched.
    `extra_rows` names the predicted candidate
    rows that match nobody expected (a header or stray line read as a candidate): each counts as
    one wrong field, and as one wrong vote count. `missing_rows` names the expected candidates
    the prediction has no row for (their fields are already wrong in `fields`).
    """

    fields: dict[str, bool] = field(default_factory=dict)
    extra_rows: tuple[str, ...] = ()
    missing_rows: tuple[str, ...] = ()

    @property
    def spurious_candidates(self) -> int:
        return len(self.extra_rows)

    @property
    def total(self) -> int:
        return len(self.fields) + self.spurious_candidates

    @property
    def correct(self) -> int:
        return sum(self.fields.values())

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 1.0

    def vote_counts(self) -> tuple[int, int]:
        """(correct, total) over vote counts only: candidates' votes and the ballot statistics,
        plus one wrong count for each extra row (a count the form does not have)."""
        counted = {k: v for k, v in self.fields.items() if k.endswith("vote_count") or is_statistic_path(k)}
        return sum(counted.values()), len(counted) + len(self.extra_rows)


def compare_extractions(
    predicted: VoteExtraction | None, expected: VoteExtraction, *, fuzzy_names: bool = True
) -> FieldComparison:
    """Compare every field `expected` states (nulls in `expected` are not scored).

    `fuzzy_names=False` pairs candidates only on an exactly equal normalised name, so a misread
    letter in a name also costs that candidate's vote count (the strict figure benchmarks quote).
    """
    predicted = predicted or VoteExtraction()
    fields: dict[str, bool] = {}
    pairs = match_candidates(predicted.vote_results, expected.vote_results, fuzzy_names=fuzzy_names)
    for want, got in pairs:
        prefix = f"vote_results[{want.candidate_name}]"
        fields[f"{prefix}.vote_count"] = got is not None and got.vote_count == want.vote_count
        if want.party is not None:
            fields[f"{prefix}.party"] = got is not None and _same_text(got.party, want.party)
    wanted, read = expected.stated_statistics(), predicted.stated_statistics()
    for key, path in statistic_paths(expected).items():
        fields[path] = read.get(key) == wanted[key]
    for name in ("constituency_name", "constituency_code"):
        want_text = getattr(expected.form, name)
        if want_text is not None:
            fields[f"form.{name}"] = _same_text(getattr(predicted.form, name), want_text)
    unpaired = list(predicted.vote_results)
    for _, got in pairs:
        if got is not None:
            del unpaired[next(i for i, row in enumerate(unpaired) if row is got)]
    return FieldComparison(
        fields=fields,
        extra_rows=tuple(row.candidate_name for row in unpaired),
        missing_rows=tuple(want.candidate_name for want, got in pairs if got is None),
    )


def row_problems(comparison: FieldComparison, *, listed: int = 5) -> list[str]:
    """Sentences for the rows that do not line up: "1 extra row: 'Votes Obtained' (...)"."""

    def names(rows: tuple[str, ...]) -> str:
        shown = ", ".join(repr(name) for name in rows[:listed])
        return shown + (" ..." if len(rows) > listed else "")

    problems = []
    if comparison.extra_rows:
        count = len(comparison.extra_rows)
        problems.append(
            f"{count} extra row{'s' if count > 1 else ''}: {names(comparison.extra_rows)} "
            "(not in the expected output; each counts as a wrong vote count)"
        )
    if comparison.missing_rows:
        count = len(comparison.missing_rows)
        problems.append(
            f"{count} missing row{'s' if count > 1 else ''}: {names(comparison.missing_rows)} "
            "(expected, not read; its vote count is wrong)"
        )
    return problems


def _same_text(got: str | None, want: str) -> bool:
    return got is not None and normalise_name(got) == normalise_name(want)
