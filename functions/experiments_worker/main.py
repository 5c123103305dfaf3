"""`experiments-worker`: runs one shard of a large experiment, delivered by Pub/Sub.

A CloudEvent function (Pub/Sub trigger in production; locally the Pub/Sub emulator's push
subscription to the gateway, which functions-framework turns into a CloudEvent). Returning acks
the message; a 429 (a busy shard or instance) or an error (a failure worth retrying) refuses it,
and Pub/Sub delivers it again later. A message that is not a shard is acked and logged: redelivering it
cannot help. In production only the trigger's service account may invoke it (IAM).
"""

from __future__ import annotations

import base64
import binascii
import logging

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import TooManyRequests

from shared.errors import NotFound
from shared.experiments.shards import ShardBusy, ShardMessage
from shared.wiring.experiments_worker import shard_worker
from shared.wiring.instance import prepare_instance

logger = logging.getLogger(__name__)

prepare_instance()  # the first request's libraries, at instance start


@functions_framework.cloud_event
def experiments_worker(cloud_event: CloudEvent) -> None:
    try:
        message = ShardMessage.decode(base64.b64decode(cloud_event.data["message"]["data"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        logger.error("dropped a Pub/Sub message that is not a shard (%s): %s", type(error).__name__, error)
        return
    try:
        outcome = shard_worker().process(message)
    except NotFound as error:  # its experiment was deleted: nothing to run
        logger.error("dropped shard %s of %s: %s", message.shard, message.experiment_id, error.message)
        return
    except ShardBusy as busy:
        # A 429 refuses the message without an error traceback: an expected, passing state.
        logger.info("shard %s of %s refused for now: %s", message.shard, message.experiment_id, busy.message)
        raise TooManyRequests(busy.message) from None
    logger.info("shard %s of %s: %s", message.shard, message.experiment_id, outcome)
