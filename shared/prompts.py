"""Named, versioned prompts. A prompt's version is part of every record and experiment run."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidField


@dataclass(frozen=True)
class Prompt:
    version: str
    text: str


_SCHEMA_HINT = (
    "Return JSON with: form {constituency_name, constituency_code, form_type}, "
    "vote_results [{candidate_name, party, vote_count}], "
    "ballot_stats {valid_votes, rejected_ballots, total_ballots}. "
    "Vote counts are integers without separators; use null for anything you cannot read."
)

PROMPTS: dict[str, Prompt] = {
    # The guide's 3.5 "prompt_a": one direct instruction.
    "prompt_a": Prompt(
        version="prompt_a",
        text="Extract all vote data from the image of this election result form in JSON format. " + _SCHEMA_HINT,
    ),
    # The guide's 3.5 "prompt_b": a step-by-step analysis.
    "prompt_b": Prompt(
        version="prompt_b",
        text=(
            "Analyze the election result form in the image and extract:\n"
            "1. Form information: the constituency name, its code and the form type.\n"
            "2. Vote results: every candidate row, with the candidate's name, party and votes.\n"
            "3. Ballot statistics: valid votes, rejected (spoilt, invalid) ballots and the total.\n"
            "Check that the candidates' votes add up to the valid votes and that valid plus "
            "rejected equals the total; if they do not, re-read the digits. " + _SCHEMA_HINT
        ),
    ),
}


# The cross check's second reading (not a client's choice, so not in PROMPTS): terse, and it
# asks for a transcription only; no arithmetic check, so the second reading stays independent
# of the consistency evaluator.
CROSS_CHECK_PROMPT = Prompt(
    version="cross_check",
    text=(
        "Transcribe this election result form. For each candidate row copy the name, party and "
        "votes exactly as printed, in the form's order; then valid votes, rejected ballots and total "
        "ballots. Do not compute or correct anything. " + _SCHEMA_HINT
    ),
)


def get_prompt(version: str) -> Prompt:
    try:
        return PROMPTS[version]
    except KeyError:
        raise InvalidField(
            f"Unknown prompt_version {version!r}.",
            details={"field": "prompt_version", "known": sorted(PROMPTS)},
        ) from None
