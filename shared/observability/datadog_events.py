"""Alerts as Datadog events (the events API), sent with the deployment's API key.

Never raises: an event Datadog did not take is reported as False, and the alert stays marked
unsent for the scheduled function to send again.
"""

from __future__ import annotations

import logging

from shared.config import Settings
from shared.models import AlertRecord

logger = logging.getLogger(__name__)

EVENT_TIMEOUT_S = 5.0


class DatadogEvents:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def configured(self) -> bool:
        return bool(self._settings.datadog_events_endpoint)

    def send(self, alert: AlertRecord) -> bool:
        """POST the alert to Datadog's events API; False (never an exception) when it was not taken."""
        settings = self._settings
        endpoint = settings.datadog_events_endpoint
        if not endpoint:
            return False
        import requests

        tags = ["service:vote-extractor", f"alert_kind:{alert.kind}", f"ml_app:{settings.ml_app}"]
        if alert.experiment_id:
            tags.append(f"experiment:{alert.experiment_id}")
            about = alert.experiment_name
        else:  # a rate over production traffic: its window says what it is about
            tags.append("alert_scope:traffic")
            about = f"production traffic from {alert.window_start:%Y-%m-%d %H:%M} UTC"
        if alert.schedule_id:
            tags.append(f"schedule:{alert.schedule_id}")
        event = {
            "title": f"vote-extractor alert: {alert.kind} ({about})",
            "text": alert.message,
            "alert_type": "error" if alert.severity == "critical" else "warning",
            "aggregation_key": alert.alert_id,
            "source_type_name": "vote-extractor",
            "tags": tags,
        }
        try:
            response = requests.post(
                endpoint,
                json=event,
                headers={"DD-API-KEY": settings.dd_api_key, "Content-Type": "application/json"},
                timeout=EVENT_TIMEOUT_S,
            )
        except requests.RequestException as error:
            logger.warning("Datadog did not take alert %s: %s", alert.alert_id, type(error).__name__)
            return False
        if response.status_code >= 300:
            logger.warning("Datadog answered %s to alert %s", response.status_code, alert.alert_id)
            return False
        return True
