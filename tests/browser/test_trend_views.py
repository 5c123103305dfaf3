"""A schedule's trend and experiments side by side, in headless Chromium: the report's Trend
section, and the console's trend charts, runs table and side-by-side tables against the real
gateway (real Tesseract; three scheduled runs, the middle one with preprocessing turned off)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Page, expect

from infra.local.scheduler import tick as scheduler_tick
from shared.experiments.report import render_report
from shared.experiments.trends import shape_trend, trend_points
from shared.models import AlertThresholds
from shared.synthetic.forms import Degradation, generate_form
from tests.browser.conftest import CONSOLE_API_KEY, Screenshots
from tests.browser.streamlit_page import choose, no_traceback, open_page, open_tab, table_rows, wait_idle
from tests.browser.test_report_page import OVERFLOWING
from tests.report_runs import NoImages, three_discordant_of_24

HEADERS = {"X-API-Key": CONSOLE_API_KEY}
VERDICT_MARKS = ("▲ better", "▼ worse", "= same")


def api(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, headers=HEADERS, timeout=120, **kwargs)


# --- the report's Trend section ------------------------------------------------------------------


def test_the_report_s_trend_draws_threshold_verdicts_and_alerts_within_its_boxes(page: Page, screenshots: Screenshots):
    experiment, runs = three_discordant_of_24()
    history = []
    for index, (accuracy, verdict, alerted) in enumerate(
        [
            (0.95, None, False),
            (0.97, "no_significant_difference", False),
            (0.71, "worse", True),
            (0.96, "better", False),
        ]
    ):
        run = experiment.model_copy(
            update={
                "experiment_id": f"s-nightly-2026120{index + 1}T0000Z",
                "created_at": experiment.created_at + dt.timedelta(days=index),
                "summary": {
                    v.name: {
                        "vote_count_accuracy": {
                            "mean": accuracy,
                            "ci_low": accuracy - 0.05,
                            "ci_high": accuracy + 0.03,
                            "n": 24,
                        },
                        "latency_ms": {"mean": 900.0 + 50 * index, "ci_low": 850.0, "ci_high": 1200.0, "n": 24},
                    }
                    for v in experiment.variants
                },
            }
        )
        verdicts = None if verdict is None else {v.name: {"vote_count_accuracy": verdict} for v in run.variants}
        history += trend_points(run, verdicts, alerted)
    current = "s-nightly-20261203T0000Z"
    trend = shape_trend("nightly", AlertThresholds(min_quality=0.9), history, metric=None)

    page.set_content(
        render_report(experiment.model_copy(update={"experiment_id": current}), runs, images=NoImages(), trend=trend)
    )

    section = page.locator("div.trend")
    expect(page.get_by_role("heading", name="Trend of schedule nightly")).to_be_visible()
    accuracy = section.locator("figure", has_text="vote_count_accuracy")
    assert accuracy.locator("line.threshold").count() == 1
    assert accuracy.locator(".worse").count() == len(experiment.variants)
    assert accuracy.locator("rect.alert").count() == len(experiment.variants)
    assert accuracy.locator("circle.current").count() == len(experiment.variants)
    assert section.locator("figure", has_text="latency_ms (lower is better)").locator("line.threshold").count() == 0
    assert page.evaluate(OVERFLOWING) == []
    section.scroll_into_view_if_needed()
    screenshots.take(page, "report-trend")


# --- the console -------------------------------------------------------------------------------


def published(api_url: str, forms) -> str:
    name = f"trend_{uuid.uuid4().hex[:6]}"
    assert api("POST", f"{api_url}/datasets", json={"name": name, "version": "v1"}).status_code == 201
    entries = [
        {
            "id": f"form-{i:03d}",
            "input": {"image_base64": base64.b64encode(form.image).decode()},
            "expected_output": form.truth.model_dump(),
        }
        for i, form in enumerate(forms)
    ]
    assert api("POST", f"{api_url}/datasets/{name}/v1/entries", json={"entries": entries}).status_code == 201
    assert api("POST", f"{api_url}/datasets/{name}/v1/publish").status_code == 200
    return name


def preprocessing(on: bool) -> list[dict]:
    return [{"name": "ocr", "model": "tesseract", "params": {"deskew": on, "remove_lines": on}}]


def wait_finished(api_url: str, experiment_id: str) -> None:
    import time

    deadline = time.monotonic() + 300
    while api("GET", f"{api_url}/experiments/{experiment_id}").json()["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.5)


@pytest.fixture(scope="module")
def trend_schedule(demo_seeded: str) -> Iterator[tuple[str, list[str]]]:
    """A schedule with three finished runs (preprocessing on, off, on); the session's other
    schedules are paused meanwhile so the triggers start only these."""
    api_url = demo_seeded
    forms = [
        generate_form(300 + i, degradation=Degradation(rotation_deg=(1.5 + 0.5 * (i % 3)) * (-1) ** i, blur_sigma=1.0))
        for i in range(10)
    ]
    dataset = published(api_url, forms)
    schedule_id = f"trend-{uuid.uuid4().hex[:6]}"
    paused = [s["schedule_id"] for s in api("GET", f"{api_url}/experiments/schedules").json()["items"] if s["enabled"]]
    for other in paused:
        assert api("POST", f"{api_url}/experiments/schedules/{other}/disable").status_code == 200
    try:
        body = {
            "schedule_id": schedule_id,
            "interval_minutes": 60,
            "dataset": {"name": dataset, "version": "latest"},
            "variants": preprocessing(True),
            "evaluators": ["vote_count_accuracy", "vote_count_exact"],
            "concurrency": 2,
            "thresholds": {"min_quality": 0.9},
        }
        assert api("POST", f"{api_url}/experiments/schedules", json=body).status_code == 201
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
        run_ids = []
        for hour, on in enumerate((True, False, True)):
            changed = api(
                "PATCH", f"{api_url}/experiments/schedules/{schedule_id}", json={"variants": preprocessing(on)}
            )
            assert changed.status_code == 200, changed.text
            [started] = scheduler_tick(api_url, CONSOLE_API_KEY, start + dt.timedelta(hours=hour))["started"]
            wait_finished(api_url, started["experiment_id"])
            run_ids.append(started["experiment_id"])
        api("POST", f"{api_url}/experiments/schedules/{schedule_id}/disable")
        yield schedule_id, run_ids
    finally:
        for other in paused:
            api("POST", f"{api_url}/experiments/schedules/{other}/enable")


def test_a_schedule_s_trend_charts_each_metric_with_its_threshold_and_lists_the_runs(
    page: Page, screenshots: Screenshots, trend_schedule
):
    schedule_id, run_ids = trend_schedule
    open_page(page, "/Experiments", "🧪 Experiments")
    open_tab(page, "Schedules and alerts")
    choose(page, "Schedule", schedule_id)

    expect(page.get_by_text(f"Trend of {schedule_id}")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("vote_count_accuracy · alert below 0.9")).to_be_visible()
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    expect(charts.first).to_be_visible(timeout=30_000)
    assert charts.count() >= 3  # vote_count_accuracy, vote_count_exact, latency_ms
    runs = table_rows(page.locator('[data-testid="stTable"]', has_text="vote_count_exact").first)
    assert [row["experiment"] for row in runs] == run_ids[::-1]  # newest first
    assert runs[-1]["vote_count_exact"].split()[-1][0].isdigit()  # the first run had no baseline: no mark
    for row in runs[:2]:
        assert any(row["vote_count_accuracy"].endswith(mark) for mark in VERDICT_MARKS), row
    no_traceback(page)
    page.get_by_text(f"Trend of {schedule_id}").scroll_into_view_if_needed()
    screenshots.take(page, "schedule-trend")
    page.get_by_text("Runs: mean per metric").scroll_into_view_if_needed()
    screenshots.take(page, "schedule-trend-runs")


def test_three_experiments_side_by_side_against_a_chosen_baseline(page: Page, screenshots: Screenshots, trend_schedule):
    schedule_id, run_ids = trend_schedule
    open_page(page, "/Experiments", "🧪 Experiments")
    page.get_by_role("textbox", name="Schedule").fill(schedule_id)
    page.keyboard.press("Enter")
    wait_idle(page)
    page.get_by_text("Side by side", exact=True).click()
    picker = page.get_by_role("combobox", name="Experiments side by side (2 to 10)")
    expect(picker).to_be_visible(timeout=30_000)
    for run_id in run_ids:  # type to filter the list, then Enter on the one match
        wait_idle(page)
        picker.click()
        picker.fill(run_id)
        expect(page.get_by_role("option", name=run_id, exact=True)).to_have_count(1, timeout=10_000)
        page.keyboard.press("Enter")
        wait_idle(page)
    page.keyboard.press("Escape")
    choose(page, "against the baseline", run_ids[1])

    expect(page.get_by_text(f"Against {run_ids[1]}")).to_be_visible(timeout=30_000)
    tables = page.locator('[data-testid="stExpander"]', has_text="Experiments side by side").locator(
        '[data-testid="stTable"]'
    )
    metrics = table_rows(tables.nth(0))
    assert set(metrics[0]) == {"metric", *run_ids}
    assert {row["metric"] for row in metrics} >= {"vote_count_accuracy", "vote_count_exact"}
    rows = table_rows(tables.nth(1))
    assert set(rows[0]) == {"metric", run_ids[0], run_ids[2]}
    assert all(any(cell.endswith(m) for m in VERDICT_MARKS) for row in rows for k, cell in row.items() if k != "metric")
    no_traceback(page)
    page.get_by_text(f"Against {run_ids[1]}").scroll_into_view_if_needed()
    screenshots.take(page, "side-by-side")
