"""Form types: what each kind of result paper carries, as data (API.md, "form types").

- `model`: FormType (statistics with printed labels, words column, rules), FormTypeDraft.
- `rules`: the rule grammar and its safe evaluator.
- `words`: counts written in words (English, Spanish).
- `checks`: a type applied to one reading (statistics, rule verdicts, figures against words).
- `builtin`: the shipped types, seeded as version 1.
- `resolve`: a type named by a request, a variant or an expected output.
"""
