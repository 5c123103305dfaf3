"""The local shard pipeline: the shards topic on the Pub/Sub emulator, pushed to the gateway's
`experiments-worker`, as Eventarc's push subscription does in production.

    python -m infra.local.pubsub --push-endpoint http://127.0.0.1:8080/experiments-worker
"""

from __future__ import annotations

import argparse
import os

from shared.config import get_settings

SUBSCRIPTION_SUFFIX = "-worker"
ACK_DEADLINE_S = 600  # Pub/Sub's longest: a shard holds its message while it runs


def ensure_shard_subscription(*, project: str, topic: str, push_endpoint: str) -> str:
    """Create (or re-point) the topic and its push subscription; returns the subscription path."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1
    from google.protobuf import duration_pb2

    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise RuntimeError("PUBSUB_EMULATOR_HOST is not set: this sets up the local emulator only")
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic_path = publisher.topic_path(project, topic)
    subscription_path = subscriber.subscription_path(project, topic + SUBSCRIPTION_SUFFIX)
    try:
        publisher.create_topic(name=topic_path)
    except exceptions.AlreadyExists:
        pass
    push_config = pubsub_v1.types.PushConfig(push_endpoint=push_endpoint)
    try:
        subscriber.create_subscription(
            request={
                "name": subscription_path,
                "topic": topic_path,
                "push_config": push_config,
                "ack_deadline_seconds": ACK_DEADLINE_S,
                "retry_policy": {
                    "minimum_backoff": duration_pb2.Duration(seconds=1),
                    "maximum_backoff": duration_pb2.Duration(seconds=10),
                },
            }
        )
    except exceptions.AlreadyExists:
        subscriber.modify_push_config(request={"subscription": subscription_path, "push_config": push_config})
    subscriber.close()
    return subscription_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--push-endpoint", required=True)
    args = parser.parse_args()
    settings = get_settings()
    print(
        ensure_shard_subscription(
            project=settings.gcp_project, topic=settings.shards_topic, push_endpoint=args.push_endpoint
        )
    )


if __name__ == "__main__":
    main()
