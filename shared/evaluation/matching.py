"""Field-by-field comparison of an extraction with its expected output.

Candidates are matched by name, tolerant of case, spacing and punctuation (and of a small typo,
so one misread letter does not also cost the candidate's vote count).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from shared.models import VoteExtraction, VoteResult

_FUZZY_NAME_RATIO = 0.85
BALLOT_FIELDS = ("valid_votes", "rejected_ballots", "total_ballots")


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
    `ballot_stats.valid_votes`) to whether it matched; `spurious_candidates` counts predicted
    candidates that match nobody expected (each counts as one wrong field).
    """

    fields: dict[str, bool] = field(default_factory=dict)
    spurious_candidates: int = 0

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
        """(correct, total) over vote counts only: candidates' votes and the ballot statistics."""
        counted = {k: v for k, v in self.fields.items() if k.endswith("vote_count") or k.startswith("ballot_")}
        return sum(counted.values()), len(counted)


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
    for name in BALLOT_FIELDS:
        want_value = getattr(expected.ballot_stats, name)
        if want_value is not None:
            fields[f"ballot_stats.{name}"] = getattr(predicted.ballot_stats, name) == want_value
    for name in ("constituency_name", "constituency_code"):
        want_text = getattr(expected.form, name)
        if want_text is not None:
            fields[f"form.{name}"] = _same_text(getattr(predicted.form, name), want_text)
    matched = sum(1 for _, got in pairs if got is not None)
    return FieldComparison(fields=fields, spurious_candidates=len(predicted.vote_results) - matched)


def _same_text(got: str | None, want: str) -> bool:
    return got is not None and normalise_name(got) == normalise_name(want)
