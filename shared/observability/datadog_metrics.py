"""Gauges sent to Datadog's metrics API (v2 series), with the deployment's API key.

Never raises: points Datadog did not take are reported as False, and the caller's work goes on
(the next scheduled tick sends fresh values anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.config import Settings

logger = logging.getLogger(__name__)

METRICS_TIMEOUT_S = 5.0
GAUGE_TYPE = 3  # the v2 series API's intake type for a gauge


@dataclass(frozen=True)
class Gauge:
    metric: str
    value: float
    tags: tuple[str, ...]


class DatadogMetrics:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def configured(self) -> bool:
        return bool(self._settings.datadog_metrics_endpoint)

    def send(self, gauges: Sequence[Gauge], *, at: datetime) -> bool:
        """POST the gauges as points at `at`; False (never an exception) when Datadog did not take them."""
        endpoint = self._settings.datadog_metrics_endpoint
        if not endpoint or not gauges:
            return False
        import requests

        timestamp = int(at.timestamp())
        series = [
            {
                "metric": gauge.metric,
                "type": GAUGE_TYPE,
                "points": [{"timestamp": timestamp, "value": gauge.value}],
                "tags": list(gauge.tags),
            }
            for gauge in gauges
        ]
        try:
            response = requests.post(
                endpoint,
                json={"series": series},
                headers={"DD-API-KEY": self._settings.dd_api_key, "Content-Type": "application/json"},
                timeout=METRICS_TIMEOUT_S,
            )
        except requests.RequestException as error:
            logger.warning("Datadog did not take %d gauge series: %s", len(series), type(error).__name__)
            return False
        if response.status_code >= 300:
            logger.warning("Datadog answered %s to %d gauge series", response.status_code, len(series))
            return False
        return True
