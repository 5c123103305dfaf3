"""Judges as versioned data that learn from reviewers (`/experiments/judges`).

A stored judge is an `llm_judge`'s params (rubric, output, classes, thresholds, model, whether it
sees the image) plus few-shot examples drawn from reviewers' decisions, in immutable numbered
versions with labels that move, as prompts are (`shared.prompts`).

- `versions`: what a judge version is, the request bodies, and `name@n|name@label` references.
- `storage`: the Firestore repository (`judges/{name}`, `judges/{name}/versions/{n}`).
- `registry`: create, list, read, label, resolve a reference to `llm_judge` params.
- `alignment`: a new version from reviewers' decisions, compared with the old on held-out ones.
- `routes`: the HTTP handlers, served by the `experiments` function.
"""
