"""The prompts the product shipped in code (the guide's 3.5), seeded as version 1 of each.

Their text is exactly what ran before prompts became data, so an old record's `prompt_a` and a
new one's `prompt_a@1` name the same text.
"""

from __future__ import annotations

_SCHEMA_HINT = (
    "Return JSON with: form {constituency_name, constituency_code, form_type}, "
    "vote_results [{candidate_name, party, vote_count}], "
    "ballot_stats {valid_votes, rejected_ballots, total_ballots}. "
    "Vote counts are integers without separators; use null for anything you cannot read."
)

BUILTIN_PROMPTS: dict[str, str] = {
    # The guide's 3.5 "prompt_a": one direct instruction.
    "prompt_a": "Extract all vote data from the image of this election result form in JSON format. " + _SCHEMA_HINT,
    # The guide's 3.5 "prompt_b": a step-by-step analysis.
    "prompt_b": (
        "Analyze the election result form in the image and extract:\n"
        "1. Form information: the constituency name, its code and the form type.\n"
        "2. Vote results: every candidate row, with the candidate's name, party and votes.\n"
        "3. Ballot statistics: valid votes, rejected (spoilt, invalid) ballots and the total.\n"
        "Check that the candidates' votes add up to the valid votes and that valid plus "
        "rejected equals the total; if they do not, re-read the digits. " + _SCHEMA_HINT
    ),
}

# The cross check's second reading (not a client's choice, so not in the registry): terse, and it
# asks for a transcription only; no arithmetic check, so the second reading stays independent
# of the consistency evaluator.
CROSS_CHECK_TEMPLATE = (
    "Transcribe this election result form. For each candidate row copy the name, party and "
    "votes exactly as printed, in the form's order; then valid votes, rejected ballots and total "
    "ballots. Do not compute or correct anything. " + _SCHEMA_HINT
)
