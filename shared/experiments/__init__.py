"""Experiments: a dataset version x variants x repetitions, run in shards, analysed and reported.

Code outside the package imports these public modules, each for what it needs, so a function
loads only its own part (the scheduled function never loads the runner); the modules beside
them are the package's own (an import test holds it to that):

    plan.py        what a client may ask for, checked before anything is stored (estimate.py, its cost)
    commands.py    start (experiment + shards in one write, published), cancel, resume
    queries.py     list, status, results, compare, report
    recovery.py    the scheduled function's job: stalled shards republished, abandoned cancels summarised
    completion.py  an experiment summarised and finished, in one place for every path that ends one
    shards.py      the shard plan and its Pub/Sub message
    worker.py      experiments-worker's use case: one delivered shard, under lease and time budget
    runner.py      the async runner of a shard's runs; run_writer.py stores them in batches
    analysis.py    summaries (summary.py) and paired comparisons (comparison.py)
    comparison.py  compare_runs: paired tests, Holm-corrected verdicts, MDE (power.py), the primary metric
    report.py      the HTML report (report_values.py, report_verdicts.py, report_trend.py)
    schedules.py   scheduled experiments; alerts.py, alerts on their results
    traffic_alerts.py  the scheduled function's rates over a window of production traffic, raised as alerts
    trends.py      a schedule's runs over time per metric: means, verdicts against baselines, alerts
    side_by_side.py  2 to 10 experiments side by side, each compared with a baseline among them

What they need from outside is in `shared/ports/experiments.py`; which adapter serves it, in each
function's wiring (`shared/wiring/experiments*.py`). The analysis and the report need numpy and
scipy (about 0.7 s to import): the modules that use them import them where they are used, so no
function pays for them at cold start.
"""
