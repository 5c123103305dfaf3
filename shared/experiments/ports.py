"""What the experiments use cases need from the outside world, as small interfaces.

The adapters live at the edge: `shared.pubsub.PubSubPublisher` carries shard messages (the Pub/Sub
emulator locally), `shared.observability.datadog_events.DatadogEvents` sends alerts to Datadog.
Tests satisfy them with those same adapters over the real emulators and a local events endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from shared.models import AlertRecord


class MessagePublisher(Protocol):
    def publish(self, messages: Sequence[tuple[bytes, Mapping[str, str]]]) -> list[bool]:
        """Publish each (data, attributes); for each, whether the broker took it. Never raises."""
        ...


class AlertEvents(Protocol):
    def send(self, alert: AlertRecord) -> bool:
        """Send one alert as an event; False (never an exception) when it was not taken."""
        ...

    @property
    def configured(self) -> bool:
        """Whether events go anywhere (no endpoint: nothing to send or resend)."""
        ...
