"""The command-line client of the HTTP API, for people and CI: `python -m frontend.cli --help`.

main.py       the commands and their arguments (start, watch, compare, export, gate)
api.py        the HTTP calls, with the errors a command reports (unreachable, refused)
variants.py   `NAME:MODEL[:PARAM=VALUE,...][@PROMPT]`, `NAME@VERSION`, `METRIC=VALUE`
spec_file.py  an experiment described in a small JSON or TOML file
progress.py   waiting for an experiment with a progress bar
tables.py     the summary and comparison as text tables
gate.py       the CI check: one experiment, its comparison, the decision and exit code
gate_report.py  the gate's decision as Markdown and JUnit XML
"""
