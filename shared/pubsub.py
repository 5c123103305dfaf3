"""Publishing to a Pub/Sub topic (the emulator locally, when PUBSUB_EMULATOR_HOST is set).

google-cloud-pubsub is imported on first publish: it costs half a second at import, which a
function that only reads experiments should not pay at cold start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from shared.deadlines import PUBSUB_WAIT_S, pubsub_publish_options

logger = logging.getLogger(__name__)


class PubSubPublisher:
    def __init__(self, *, project: str, topic: str) -> None:
        self._project = project
        self._topic = topic
        self._client: Any = None
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[tuple[bytes, Mapping[str, str]]]) -> list[bool]:
        """Publish every message at once; for each, whether Pub/Sub accepted it (never raises).

        Waits at most PUBSUB_WAIT_S for all of them together (shared.deadlines)."""
        try:
            client = self._publisher()
            topic = client.topic_path(self._project, self._topic)
            futures = [client.publish(topic, data, **attributes) for data, attributes in messages]
        except Exception:
            logger.exception("could not publish %d messages to %s", len(messages), self._topic)
            return [False] * len(messages)
        accepted = []
        until = time.monotonic() + PUBSUB_WAIT_S
        for future in futures:
            try:
                future.result(timeout=max(until - time.monotonic(), 0.0))
                accepted.append(True)
            except Exception:
                logger.exception("a message to %s was not published", self._topic)
                accepted.append(False)
        return accepted

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import pubsub_v1

                self._client = pubsub_v1.PublisherClient(publisher_options=pubsub_publish_options())
            return self._client
