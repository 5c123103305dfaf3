"""HTTP routes, one module per resource, that a function serves beside its own.

A function's `main.py` handles its own resource and adds these to its `ROUTES`; they live in
`shared/` because only a function's folder and `shared/` are deployed with it. Each handler is
thin (STYLE.md rule 1): it checks the request, calls one service from the function's wiring,
and answers JSON.

    form_types.py /extract/form-types: the form types a reading can be of
    prompts.py    /experiments/prompts: prompt versions and their labels
    schedules.py  /experiments/schedules: scheduled experiments
    alerts.py     /experiments/alerts: alerts raised on experiments
    path_ids.py   ids in a path that could never have been stored: 404
"""
