"""Corrections: the values a person says are right, as a partial VoteExtraction.

A correction names only what it changes. Candidates are matched by name (as in `matching`);
a corrected candidate the model missed is added.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from shared.evaluation.matching import normalise_name
from shared.form_types.rules import KEY_PATTERN
from shared.models import VoteExtraction, VoteResult, WholeNumber

# A count Firestore can store (a 64-bit integer): a larger one was a 500 (found by contract fuzzing).
Count = Annotated[WholeNumber, Field(ge=0, le=2**63 - 1)]


class _Partial(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FormCorrection(_Partial):
    constituency_name: StrictStr | None = Field(None, max_length=200)
    constituency_code: StrictStr | None = Field(None, max_length=50)
    form_type: StrictStr | None = Field(None, max_length=50)


class VoteResultCorrection(_Partial):
    candidate_name: StrictStr = Field(min_length=1, max_length=200)
    party: StrictStr | None = Field(None, max_length=200)
    vote_count: Count | None = None
    vote_count_words: StrictStr | None = Field(None, max_length=200)


class BallotStatsCorrection(_Partial):
    valid_votes: Count | None = None
    rejected_ballots: Count | None = None
    total_ballots: Count | None = None


class ExtractionCorrection(_Partial):
    form: FormCorrection | None = None
    vote_results: list[VoteResultCorrection] | None = Field(None, max_length=50)
    ballot_stats: BallotStatsCorrection | None = None
    # The form type's statistics by key (which keys a type has is checked against the extraction's
    # type by the feedback service: an unknown key is a 422 naming it).
    statistics: dict[Annotated[str, Field(pattern=f"^{KEY_PATTERN}$")], Count | None] | None = Field(
        None, max_length=60
    )

    @model_validator(mode="after")
    def _says_something(self) -> ExtractionCorrection:
        changed = bool(self.form and self.form.model_fields_set) or bool(self.vote_results)
        changed |= bool(self.ballot_stats and self.ballot_stats.model_fields_set) or bool(self.statistics)
        if not changed:
            raise ValueError("a correction must set at least one field")
        return self


def apply_correction(original: VoteExtraction | None, correction: ExtractionCorrection) -> VoteExtraction:
    """The original with every corrected field replaced (the original is not modified)."""
    corrected = (original or VoteExtraction()).model_copy(deep=True)
    if correction.form:
        for name in correction.form.model_fields_set:
            setattr(corrected.form, name, getattr(correction.form, name))
    if correction.ballot_stats:
        for name in correction.ballot_stats.model_fields_set:
            setattr(corrected.ballot_stats, name, getattr(correction.ballot_stats, name))
            if name in corrected.statistics:
                corrected.statistics[name] = getattr(correction.ballot_stats, name)
    for key, value in (correction.statistics or {}).items():
        corrected.statistics[key] = value
        if key in BallotStatsCorrection.model_fields:  # one number, however a client names it
            setattr(corrected.ballot_stats, key, value)
    by_name = {normalise_name(row.candidate_name): row for row in corrected.vote_results}
    for fix in correction.vote_results or []:
        row = by_name.get(normalise_name(fix.candidate_name))
        if row is None:
            row = VoteResult(candidate_name=fix.candidate_name)
            corrected.vote_results.append(row)
            by_name[normalise_name(fix.candidate_name)] = row
        for name in fix.model_fields_set - {"candidate_name"}:
            setattr(row, name, getattr(fix, name))
    return corrected
