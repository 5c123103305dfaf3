"""Shards: an experiment split into ranges of entries, carried by Pub/Sub to `experiments-worker`.

A shard is a contiguous range of the (frozen) dataset version's entries with every variant and
repetition of them, about `shard_size` runs. The experiment and its shards are created in one
atomic write; the shards are then published, one message each (`worker.py` runs them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.errors import InvalidField, VoteExtractorError
from shared.models import MAX_SHARDS, ExperimentRecord, ShardRecord
from shared.ports.experiments import DatasetReader, MessagePublisher


class ShardBusy(VoteExtractorError):
    """This delivery cannot run the shard now (another holds it, or this instance is full):
    refused so that Pub/Sub delivers it again later."""

    status, code = 429, "shard_busy"


@dataclass(frozen=True)
class ShardMessage:
    experiment_id: str
    shard: int

    def encode(self) -> bytes:
        return json.dumps({"experiment_id": self.experiment_id, "shard": self.shard}).encode()

    @classmethod
    def decode(cls, data: bytes) -> ShardMessage:
        """A message we published; ValueError for anything else."""
        body = json.loads(data)
        if not isinstance(body, dict) or set(body) != {"experiment_id", "shard"}:
            raise ValueError("a shard message is {experiment_id, shard}")
        experiment_id, shard = body["experiment_id"], body["shard"]
        if not isinstance(experiment_id, str) or not experiment_id or len(experiment_id) > 64:
            raise ValueError("experiment_id must be a short string")
        if not isinstance(shard, int) or isinstance(shard, bool) or not 0 <= shard < MAX_SHARDS:
            raise ValueError("shard must be a shard index")
        return cls(experiment_id, shard)


def entries_per_shard(experiment: ExperimentRecord, shard_size: int) -> int:
    """Whole entries per shard (an entry's variants and repetitions stay together, for pairing)."""
    return max(1, shard_size // (len(experiment.variants) * experiment.repetitions))


def plan_shards(datasets: DatasetReader, experiment: ExperimentRecord, shard_size: int) -> list[ShardRecord]:
    """Split the version's entries into shards of about `shard_size` runs, in id order."""
    per_shard = entries_per_shard(experiment, shard_size)
    runs_per_entry = len(experiment.variants) * experiment.repetitions
    ids = [entry.id for entry in datasets.stream(experiment.dataset_name, experiment.dataset_version)]
    count = math.ceil(len(ids) / per_shard)
    if count > MAX_SHARDS:
        raise InvalidField(
            f"{len(ids)} entries make {count} shards, more than {MAX_SHARDS}: raise SHARD_SIZE.",
            details={"shards": count, "max_shards": MAX_SHARDS},
        )
    now = datetime.now(UTC)
    shards = []
    for index in range(count):
        chunk = ids[index * per_shard : (index + 1) * per_shard]
        shards.append(
            ShardRecord(
                index=index,
                after_entry_id=ids[index * per_shard - 1] if index else None,
                last_entry_id=chunk[-1],
                runs=len(chunk) * runs_per_entry,
                updated_at=now,
            )
        )
    return shards


def publish_shards(publisher: MessagePublisher, messages: list[ShardMessage]) -> list[int]:
    """Publish shard messages; the shard indexes the broker accepted."""
    taken = publisher.publish([(m.encode(), {"experiment_id": m.experiment_id}) for m in messages])
    return [message.shard for message, ok in zip(messages, taken, strict=True) if ok]
