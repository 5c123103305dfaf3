"""The console's shaping of a trend and of experiments side by side into charts and table rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontend" / "streamlit"))

from trend_view import (  # noqa: E402
    THRESHOLD,
    THRESHOLD_COLOUR,
    baseline_rows,
    chart_colours,
    chart_frame,
    charted_metrics,
    metric_rows,
    run_rows,
)


def point(experiment_id: str, slot: str, mean: float, verdict=None, alert=False, variant="ocr") -> dict:
    return {
        "experiment_id": experiment_id,
        "variant": variant,
        "slot": slot,
        "created_at": f"2026-12-06T{slot[9:11]}:05:00+00:00",
        "status": "completed",
        "mean": mean,
        "ci_low": mean - 0.1,
        "ci_high": mean + 0.1,
        "n": 8,
        "verdict": verdict,
        "alert": alert,
    }


TREND = {
    "schedule_id": "nightly",
    "metrics": {
        "cost_usd": {"higher_is_better": False, "threshold": None, "points": [point("s-1", "20261206T0100Z", 0.0)]},
        "vote_count_accuracy": {
            "higher_is_better": True,
            "threshold": 0.9,
            "points": [
                point("s-1", "20261206T0100Z", 1.0),
                point("s-2", "20261206T0200Z", 0.5, "worse", True),
                point("s-2", "20261206T0200Z", 0.75, "worse", True, variant="flash"),
            ],
        },
    },
}


def test_a_chart_has_a_row_per_run_a_line_per_variant_and_the_threshold_in_red():
    frame = chart_frame(TREND["metrics"]["vote_count_accuracy"])

    second = pd.Timestamp("2026-12-06T02:00Z")
    assert list(frame.index) == [pd.Timestamp("2026-12-06T01:00Z"), second]
    assert list(frame.columns) == sorted(["ocr", "flash", THRESHOLD])
    assert frame.loc[second, "ocr"] == 0.5 and frame.loc[second, "flash"] == 0.75
    assert set(frame[THRESHOLD]) == {0.9}
    colours = dict(zip(frame.columns, chart_colours(frame), strict=True))
    assert colours[THRESHOLD] == THRESHOLD_COLOUR and colours["ocr"] != colours["flash"] != THRESHOLD_COLOUR


def test_cost_is_not_charted_and_the_runs_table_is_newest_first_with_marks():
    assert charted_metrics(TREND) == ["vote_count_accuracy"]
    rows = run_rows(TREND, ["vote_count_accuracy"])
    assert [(r["experiment"], r["variant"]) for r in rows][0][0] == "s-2"
    assert rows[-1]["experiment"] == "s-1" and rows[-1]["vote_count_accuracy"] == "1" and rows[-1]["alert"] == ""
    worse = next(r for r in rows if r["variant"] == "ocr" and r["experiment"] == "s-2")
    assert worse["vote_count_accuracy"] == "0.5 ▼ worse" and worse["alert"] == "🔔 yes"


def test_side_by_side_rows_leave_the_baseline_out_of_the_comparison():
    compared = {
        "columns": [
            {"column": "a", "experiment_id": "a", "variant": "ocr"},
            {"column": "b:ocr", "experiment_id": "b", "variant": "ocr"},
        ],
        "baseline": {"experiment_id": "a", "columns": ["a"]},
        "metrics": {"vote_count_exact": {"a": {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 8}}},
        "vs_baseline": {"vote_count_exact": {"b:ocr": {"delta": -0.5, "p_value": 0.01, "verdict": "worse"}}},
    }

    assert metric_rows(compared) == [{"metric": "vote_count_exact", "a": "1 [1, 1]", "b:ocr": "—"}]
    assert baseline_rows(compared) == [{"metric": "vote_count_exact", "b:ocr": "-0.5 (p 0.01) ▼ worse"}]
