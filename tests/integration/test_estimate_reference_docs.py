"""The dry run's cost estimate counts the tokens reference documents add: the entries' documents a
variant puts in the prompt, and those a judge quotes (shared/experiments/estimate.py).

Through POST /experiments with `dry_run: true` over the Firestore emulator: nothing runs, so
no model answers; the prices are the product's own table.
"""

from __future__ import annotations

import pytest

from shared.llm.pricing import PRICES_PER_MILLION_TOKENS
from shared.synthetic.forms import generate_form
from tests.conftest import TEST_API_KEY
from tests.integration.builders import published_dataset

HEADERS = {"X-API-Key": TEST_API_KEY}
PARAGRAPH = "Published results for the constituency: candidate {i} received {votes} votes of the valid total. "
# About 24,000 characters per entry: over what a judge quotes (20,000), under an entry's limit (32,000).
LONG_DOCS = "".join(PARAGRAPH.format(i=i, votes=1000 + i) for i in range(250))
SHORT_DOCS = "Candidate votes add up to the valid votes."
REPETITIONS = 2


def dry_run(experiments_client, dataset: str, *, variant: dict, evaluators: list) -> float:
    body = {
        "name": "docs estimate",
        "dataset": {"name": dataset, "version": "v1"},
        "variants": [{"name": "v", **variant}],
        "evaluators": evaluators,
        "repetitions": REPETITIONS,
        "dry_run": True,
    }
    planned = experiments_client.post("/", json=body, headers=HEADERS)
    assert planned.status_code == 200, planned.json
    return planned.json["estimated_cost_usd"]


def input_cost(model: str, tokens: float) -> float:
    return tokens * PRICES_PER_MILLION_TOKENS[model][0] / 1_000_000


@pytest.mark.integration
def test_a_variant_that_puts_long_reference_docs_in_the_prompt_costs_their_tokens_more(
    datasets_client, experiments_client
):
    forms = [generate_form(1730 + i) for i in range(3)]
    dataset, _ = published_dataset(datasets_client, forms, reference_docs=LONG_DOCS)
    model = "gemini-2.5-pro"

    without = dry_run(experiments_client, dataset, variant={"model": model}, evaluators=["vote_count_exact"])
    with_docs = dry_run(
        experiments_client,
        dataset,
        variant={"model": model, "params": {"reference_docs": True}},
        evaluators=["vote_count_exact"],
    )

    docs_tokens = len(LONG_DOCS) / 4 * len(forms) * REPETITIONS  # about 4 characters a token
    assert with_docs - without == pytest.approx(input_cost(model, docs_tokens), rel=0.02)
    assert with_docs > 2 * without  # 6,000 tokens of documents against a 1,300-token image and prompt


@pytest.mark.integration
def test_a_judge_quoting_long_reference_docs_costs_what_it_quotes_more(datasets_client, experiments_client):
    forms = [generate_form(1740 + i) for i in range(2)]
    long_dataset, _ = published_dataset(datasets_client, forms, reference_docs=LONG_DOCS)
    short_dataset, _ = published_dataset(datasets_client, forms, reference_docs=SHORT_DOCS)
    judge = [{"llm_judge": {"rubric": "The figures match the reference documents.", "model": "gemini-2.5-pro"}}]

    costs = {
        name: dry_run(experiments_client, dataset, variant={"model": "tesseract"}, evaluators=judge)
        for name, dataset in (("long", long_dataset), ("short", short_dataset))
    }

    quoted = min(len(LONG_DOCS), 20_000) - len(SHORT_DOCS)  # a judge quotes at most 20,000 characters
    expected = input_cost("gemini-2.5-pro", quoted / 4 * len(forms) * REPETITIONS)
    assert costs["long"] - costs["short"] == pytest.approx(expected, rel=0.02)
