"""The rate conditions over a window of production traffic (pure functions), and one tick's check."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.config import Settings
from shared.experiments.alerts import AlertService
from shared.experiments.traffic_alerts import (
    RateLimit,
    TrafficAlerts,
    TrafficCounts,
    TrafficLimits,
    TrafficWindow,
    count_traffic,
    traffic_conditions,
)
from shared.models import AlertRecord, Evaluation, ExtractionRecord

WINDOW = TrafficWindow(datetime(2026, 12, 6, 13, tzinfo=UTC), datetime(2026, 12, 6, 14, tzinfo=UTC))
LIMITS = TrafficLimits(
    cross_check_disagreement=RateLimit(0.2, 20),
    consistency_failure=RateLimit(0.1, 20),
    online_evaluation_failure=RateLimit(0.05, 50),
    thumbs_down=RateLimit(0.3, 10),
)


def evaluation(label: str, value: object, *, error: str | None = None, skipped: bool = False) -> Evaluation:
    return Evaluation(
        label=label,
        metric_type="boolean" if isinstance(value, bool) else "score",
        value=value,
        evaluator_version="1",
        error=error,
        details={"skipped": True} if skipped else {},
    )


def extraction(*evaluations: Evaluation, minute: int = 0) -> ExtractionRecord:
    return ExtractionRecord(
        extraction_id=uuid.uuid4().hex,
        model="gemini-2.5-flash",
        prompt_version="prompt_a@1",
        status="succeeded",
        evaluations=list(evaluations),
        image_uri="gs://bucket/image",
        image_sha256="0" * 64,
        image_content_type="image/png",
        latency_ms=1.0,
        created_at=WINDOW.start + timedelta(minutes=minute),
    )


def test_counts_each_rate_from_the_stored_online_evaluations():
    records = [
        extraction(evaluation("cross_check", 1.0), evaluation("consistency", True)),
        extraction(evaluation("cross_check", 0.75), evaluation("consistency", False)),
        # consistent arithmetic, but the words contradict a figure: one failing extraction
        extraction(evaluation("consistency", True), evaluation("figures_match_words", False)),
        # both fail: still one failing extraction
        extraction(evaluation("consistency", False), evaluation("figures_match_words", False)),
        # no second reading (skipped) and a consistency evaluator that raised: neither judged
        extraction(
            evaluation("cross_check", None, skipped=True),
            evaluation("consistency", None, error="KeyError: 'valid_votes'"),
            evaluation("output_classification", None, error="ValueError: no rows"),
        ),
        extraction(),
    ]

    counts = count_traffic(records, feedback=(12, 5))

    assert counts == TrafficCounts(
        extractions=6,
        cross_checked=2,
        cross_check_disagreements=1,
        consistency_judged=4,
        consistency_failures=3,
        evaluations_attempted=10,  # 11 stored, the skipped cross check neither scored nor raised
        evaluations_failed=2,
        failed_evaluators={"consistency": 1, "output_classification": 1},
        feedback=12,
        thumbs_down=5,
    )


def test_a_rate_above_its_limit_with_enough_samples_alerts_with_its_exact_numbers():
    counts = TrafficCounts(extractions=40, cross_checked=25, cross_check_disagreements=6)

    [condition] = traffic_conditions(counts, WINDOW, LIMITS)

    assert condition.kind == "cross_check_disagreement_rate"
    assert condition.details == {
        "rate": 6 / 25,
        "count": 6,
        "out_of": 25,
        "limit": 0.2,
        "min_samples": 20,
        "extractions_read": 40,
        "capped": False,
    }
    assert condition.message.startswith(
        "6 of 25 cross-checked extractions in 2026-12-06 13:00-14:00 UTC disagree with their second reading on a "
        "count (24%, limit 20%)."
    )


def test_a_rate_at_its_limit_does_not_alert():
    counts = TrafficCounts(
        cross_checked=20,
        cross_check_disagreements=4,
        consistency_judged=30,
        consistency_failures=3,
        evaluations_attempted=100,
        evaluations_failed=5,
        feedback=10,
        thumbs_down=3,
    )
    assert traffic_conditions(counts, WINDOW, LIMITS) == []


def test_too_few_samples_never_alert_however_high_the_rate():
    counts = TrafficCounts(
        cross_checked=19,
        cross_check_disagreements=19,
        consistency_judged=2,
        consistency_failures=1,  # 1 of 2
        evaluations_attempted=49,
        evaluations_failed=49,
        feedback=9,
        thumbs_down=9,
    )
    assert traffic_conditions(counts, WINDOW, LIMITS) == []
    assert traffic_conditions(TrafficCounts(), WINDOW, LIMITS) == []


def test_every_rate_alerts_with_its_own_kind_and_counts_at_the_minimum_sample():
    counts = TrafficCounts(
        extractions=20,
        cross_checked=20,
        cross_check_disagreements=5,
        consistency_judged=20,
        consistency_failures=3,
        evaluations_attempted=50,
        evaluations_failed=3,
        failed_evaluators={"llm_judge_faithful": 3},
        feedback=10,
        thumbs_down=4,
    )

    conditions = {c.kind: c.details for c in traffic_conditions(counts, WINDOW, LIMITS)}

    assert {kind: (d["count"], d["out_of"], d["rate"]) for kind, d in conditions.items()} == {
        "cross_check_disagreement_rate": (5, 20, 0.25),
        "consistency_failure_rate": (3, 20, 0.15),
        "online_evaluation_failure_rate": (3, 50, 0.06),
        "thumbs_down_rate": (4, 10, 0.4),
    }
    assert conditions["online_evaluation_failure_rate"]["failed_evaluators"] == {"llm_judge_faithful": 3}


def test_a_limit_of_one_turns_a_rate_off():
    off = RateLimit(1.0, 1)
    limits = TrafficLimits(off, off, off, off)
    counts = TrafficCounts(cross_checked=5, cross_check_disagreements=5, feedback=5, thumbs_down=5)
    assert traffic_conditions(counts, WINDOW, limits) == []


@pytest.mark.parametrize(
    ("moment", "minutes", "start", "end"),
    [
        ("2026-12-06T14:00:00+00:00", 60, "2026-12-06T13:00:00+00:00", "2026-12-06T14:00:00+00:00"),
        ("2026-12-06T14:59:59+00:00", 60, "2026-12-06T13:00:00+00:00", "2026-12-06T14:00:00+00:00"),
        ("2026-12-06T16:00:00+02:00", 60, "2026-12-06T13:00:00+00:00", "2026-12-06T14:00:00+00:00"),
        # a 3 h window: the ticks at 13:00, 14:00 and 15:00 all check 09:00-12:00 (once)
        ("2026-12-06T14:00:00+00:00", 180, "2026-12-06T09:00:00+00:00", "2026-12-06T12:00:00+00:00"),
    ],
)
def test_a_tick_checks_the_last_complete_window(moment: str, minutes: int, start: str, end: str):
    window = TrafficWindow.before(datetime.fromisoformat(moment), minutes=minutes)
    assert (window.start, window.end) == (datetime.fromisoformat(start), datetime.fromisoformat(end))


def test_the_defaults_are_the_documented_limits():
    limits = TrafficLimits.from_settings(Settings())
    assert limits == TrafficLimits(
        cross_check_disagreement=RateLimit(0.2, 20),
        consistency_failure=RateLimit(0.1, 20),
        online_evaluation_failure=RateLimit(0.05, 50),
        thumbs_down=RateLimit(0.3, 10),
    )


class _Extractions:
    def __init__(self, records: list[ExtractionRecord]) -> None:
        self.records = records
        self.asked: list[tuple[datetime, datetime, int]] = []

    def created_between(self, start: datetime, end: datetime, *, limit: int) -> list[ExtractionRecord]:
        self.asked.append((start, end, limit))
        return [r for r in self.records if start <= r.created_at < end][:limit]


class _Feedback:
    def counts_between(self, start: datetime, end: datetime) -> tuple[int, int]:
        return (0, 0)


class _Alerts:
    """The alert store's create-once, as a dict."""

    def __init__(self) -> None:
        self.stored: dict[str, AlertRecord] = {}

    def create_once(self, alert: AlertRecord) -> bool:
        return self.stored.setdefault(alert.alert_id, alert) is alert

    def mark_event_sent(self, alert_id: str) -> None:
        pass


class _NoEvents:
    configured = False

    def send(self, alert: AlertRecord) -> bool:
        return False


def test_a_capped_window_is_judged_on_what_was_read_says_so_and_alerts_once(capsys):
    disagreeing = [extraction(evaluation("cross_check", 0.5), minute=i % 60) for i in range(30)]
    extractions, alerts = _Extractions(disagreeing), _Alerts()
    service = AlertService(
        alerts=alerts,  # type: ignore[arg-type]  # only create_once and mark_event_sent are called
        experiments=None,  # type: ignore[arg-type]
        schedules=None,  # type: ignore[arg-type]
        feedback=None,  # type: ignore[arg-type]
        events=_NoEvents(),
    )
    check = TrafficAlerts(
        extractions=extractions,
        feedback=_Feedback(),
        alerts=service,
        limits=LIMITS,
        window_minutes=60,
        max_extractions=25,
    )

    [alert] = check.check(datetime(2026, 12, 6, 14, 0, 7, tzinfo=UTC))
    again = check.check(datetime(2026, 12, 6, 14, 0, 7, tzinfo=UTC))  # the retried tick

    assert extractions.asked[0] == (WINDOW.start, WINDOW.end, 26)
    assert alert.alert_id == "traffic-20261206T1300Z~cross_check_disagreement_rate"
    assert alert.experiment_id is None and (alert.window_start, alert.window_end) == (WINDOW.start, WINDOW.end)
    assert alert.details | {"rate": None} == {
        "rate": None,
        "count": 25,
        "out_of": 25,
        "limit": 0.2,
        "min_samples": 20,
        "extractions_read": 25,
        "capped": True,
    }
    assert "Only the window's first 25 extractions were read." in alert.message
    assert again == [] and list(alerts.stored) == [alert.alert_id]
    assert capsys.readouterr().out.count('"vote_extractor_alert"') == 1
