"""Production accuracy as Datadog gauges, each scheduled tick: the week to date (Monday 00:00 UTC
to the schedule time), over all traffic and per form type, as `GET /datasets/review/accuracy`
answers for the same window. A scope whose estimate is null (too few reviewed) sends nothing and
is reported with its reason; a Datadog outage is reported, never raised.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.observability.datadog_metrics import DatadogMetrics, Gauge
from shared.services.production_accuracy import AccuracyQuery, ProductionAccuracyService

METRIC_PREFIX = "vote_extractor.production_accuracy."
GAUGE_FIELDS = ("estimate", "ci_low", "ci_high", "n_reviewed", "n_total")
ALL_FORM_TYPES = "all"


def week_to_date(at: datetime) -> tuple[datetime, datetime]:
    """[Monday 00:00 UTC of `at`'s week, at)."""
    monday = (at - timedelta(days=at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday, at


class ProductionAccuracyGauges:
    def __init__(self, *, accuracy: ProductionAccuracyService, metrics: DatadogMetrics, ml_app: str) -> None:
        self._accuracy = accuracy
        self._metrics = metrics
        self._ml_app = ml_app

    def send(self, at: datetime) -> dict[str, Any]:
        """Send the week-to-date gauges stamped `at`; the tick's report of what was sent and skipped."""
        since, until = week_to_date(at)
        report: dict[str, Any] = {"since": since.isoformat(), "until": until.isoformat()}
        if not self._metrics.configured:
            return report | {"sent": [], "skipped": {}, "delivered": False, "reason": "Datadog is not configured"}
        gauges: list[Gauge] = []
        sent: list[str] = []
        skipped: dict[str, str] = {}
        for form_type in [None, *self._accuracy.form_types_sampled(since=since, until=until)]:
            body = self._accuracy.accuracy(AccuracyQuery(since=since, until=until, form_type=form_type, by=None))
            scope = form_type or ALL_FORM_TYPES
            if body["estimate"] is None:
                skipped[scope] = body["reason"]
                continue
            tags = (f"ml_app:{self._ml_app}", f"form_type:{scope}", f"method:{body['method']}")
            gauges += [Gauge(METRIC_PREFIX + field, float(body[field]), tags) for field in GAUGE_FIELDS]
            sent.append(scope)
        delivered = self._metrics.send(gauges, at=at) if gauges else False
        return report | {"sent": sent, "skipped": skipped, "delivered": delivered}
