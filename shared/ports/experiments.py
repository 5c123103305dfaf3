"""What `shared/experiments` needs from the outside world: one small Protocol per need.

Each Protocol holds only the calls one part of the experiments package makes (the docstring
names it); where parts need more of one repository, the larger Protocol extends the smaller. The
adapters are the Firestore repositories in `shared/storage` (experiments, shards, schedules,
alerts, datasets, feedback, extractions), `shared.pubsub.PubSubPublisher` for shard messages and
`shared.observability.datadog_events.DatadogEvents` for alert events; the functions' wiring
(`shared/wiring/experiments*.py`) hands them over. tests/unit/test_storage_ports.py checks the
storage adapters' methods against these. Images are read through the services' `ImageReader`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.models import (
    AlertRecord,
    DatasetEntry,
    DatasetVersion,
    ExperimentRecord,
    ExtractionRecord,
    RunRecord,
    ScheduleRecord,
    ShardClaim,
    ShardRecord,
)

if TYPE_CHECKING:
    from google.cloud import firestore


# Messages and events (adapters: PubSubPublisher, DatadogEvents)


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


# Experiments and their runs (adapter: FirestoreExperimentRepository)


class ExperimentHistory(Protocol):
    """An experiment and its runs, read back (AlertService, for a baseline comparison; the plan,
    for a baseline's existence; ShardWorker)."""

    def get(self, experiment_id: str) -> ExperimentRecord: ...

    def runs(self, experiment_id: str) -> Iterator[RunRecord]: ...


class ExperimentOutcomes(ExperimentHistory, Protocol):
    """An experiment summarised from its stored runs and its outcome stored (ExperimentCompletion)."""

    def update(self, experiment_id: str, fields: dict[str, Any]) -> None: ...


class RunSink(Protocol):
    """Where finished runs are written in batches (the runner's RunWriter), with `also`'s writes."""

    def save_runs(
        self,
        experiment_id: str,
        runs: list[RunRecord],
        *,
        also: Callable[[firestore.WriteBatch], None],
        heartbeat: bool,
    ) -> None: ...


class ExperimentTracker(ExperimentHistory, RunSink, Protocol):
    """An experiment run: what is done, its runs written and its progress updated (ExperimentRunner,
    which hands itself to its RunWriter as the RunSink)."""

    def update(self, experiment_id: str, fields: dict[str, Any]) -> None: ...

    def update_unless_cancelled(self, experiment_id: str, fields: dict[str, Any]) -> bool: ...

    def progress(self, experiment_id: str) -> tuple[int, int]: ...

    def succeeded_run_ids(self, experiment_id: str, run_ids: Sequence[str]) -> set[str]: ...


class ExperimentControl(ExperimentHistory, Protocol):
    """Experiments cancelled and set running again (ExperimentCommands)."""

    def update(self, experiment_id: str, fields: dict[str, Any]) -> None: ...

    def cancel(self, experiment_id: str, reason: str) -> tuple[ExperimentRecord, bool]: ...


class ExperimentListing(ExperimentHistory, Protocol):
    """Experiments listed, their runs paged through and their live progress read (ExperimentQueries)."""

    def progress(self, experiment_id: str) -> tuple[int, int]: ...

    def listing(
        self,
        *,
        dataset: str | None = None,
        status: str | None = None,
        schedule_id: str | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[ExperimentRecord]: ...

    def page(self, experiment_id: str, *, page_size: int, after: str | None) -> list[RunRecord]: ...


class UnfinishedExperiments(Protocol):
    """The experiments recovery looks at: queued or running ones, and cancelled ones not yet
    summarised (ExperimentRecovery)."""

    def unfinished(self) -> list[ExperimentRecord]: ...

    def cancelled_unsummarised(self) -> list[ExperimentRecord]: ...


# Shards (adapter: FirestoreShardRepository)


class ShardStates(Protocol):
    """An experiment's shards as they stand (ExperimentQueries)."""

    def all(self, experiment_id: str) -> list[ShardRecord]: ...


class ShardPlans(ShardStates, Protocol):
    """An experiment created with its shards, published, reopened and cancelled (ExperimentCommands)."""

    def create_experiment(self, experiment: ExperimentRecord, shards: list[ShardRecord]) -> None: ...

    def mark_published(self, experiment_id: str, indexes: list[int]) -> None: ...

    def add_shards(self, experiment_id: str, shards: list[ShardRecord]) -> None: ...

    def reopen(self, experiment_id: str) -> None: ...

    def cancel_pending(self, experiment_id: str) -> list[int]: ...


class ShardRecovery(ShardStates, Protocol):
    """Shards published late or again, and a dead worker's shard of a cancelled experiment stopped
    (ExperimentRecovery)."""

    def mark_published(self, experiment_id: str, indexes: list[int]) -> None: ...

    def stop(self, experiment_id: str, index: int, *, done: int, failed: int) -> None: ...


class ShardLeases(ShardStates, Protocol):
    """A delivered shard claimed under a lease renewed while it runs, then completed, released or
    failed (ShardWorker)."""

    def claim(self, experiment_id: str, index: int, *, lease_s: float, max_attempts: int) -> ShardClaim: ...

    def complete(self, experiment_id: str, index: int, *, done: int, failed: int) -> None: ...

    def extend_lease(self, experiment_id: str, index: int, *, lease_s: float) -> None: ...

    def release(self, experiment_id: str, index: int, *, error: str | None, count_attempt: bool = True) -> None: ...

    def fail(self, experiment_id: str, index: int, *, error: str) -> None: ...

    def stop(self, experiment_id: str, index: int, *, done: int, failed: int) -> None: ...


# Schedules (adapter: FirestoreScheduleRepository)


class ScheduleLookup(Protocol):
    """One schedule (AlertService, for its thresholds)."""

    def get(self, schedule_id: str) -> ScheduleRecord: ...


class ScheduleStore(ScheduleLookup, Protocol):
    """Schedules created, listed, updated and deleted (ScheduleService)."""

    def create(self, schedule: ScheduleRecord) -> None: ...

    def all(self) -> list[ScheduleRecord]: ...

    def enabled(self) -> list[ScheduleRecord]: ...

    def update(self, schedule_id: str, fields: dict[str, Any]) -> ScheduleRecord: ...

    def delete(self, schedule_id: str) -> None: ...


# Alerts (adapter: FirestoreAlertRepository)


class AlertStore(Protocol):
    """Alerts stored once, listed, and their Datadog events marked sent (AlertService)."""

    def create_once(self, alert: AlertRecord) -> bool: ...

    def mark_event_sent(self, alert_id: str) -> None: ...

    def unsent_events(self, *, limit: int = 100) -> list[AlertRecord]: ...

    def for_experiment(self, experiment_id: str) -> list[AlertRecord]: ...

    def recent(self, *, schedule_id: str | None = None, limit: int = 100) -> list[AlertRecord]: ...


# Datasets and feedback as the experiments read them (adapters: FirestoreDatasetRepository,
# FirestoreFeedbackRepository)


class DatasetReader(Protocol):
    """A dataset version and its entries, read (ExperimentCommands, ExperimentRunner, plan_shards,
    ScheduleService for a schedule's "latest"); and a published version's snapshot, which only
    makes reading it cheaper (ExperimentCommands, as an experiment starts)."""

    def version(self, name: str, version: str) -> DatasetVersion: ...

    def latest_published(self, name: str) -> DatasetVersion: ...

    def pages(
        self, name: str, version: str, *, after: str | None = None, last: str | None = None, page_size: int = 500
    ) -> Iterator[list[DatasetEntry]]: ...

    def stream(self, name: str, version: str) -> Iterator[DatasetEntry]: ...

    def ensure_snapshot(self, name: str, version: str) -> bool: ...


class FeedbackCounts(Protocol):
    """Feedback counted since a time (AlertService, for the negative feedback rate)."""

    def counts_since(self, since: datetime) -> tuple[int, int]: ...


class FeedbackInWindow(Protocol):
    """Feedback counted over a window of production traffic (TrafficAlerts, the thumbs-down rate)."""

    def counts_between(self, start: datetime, end: datetime) -> tuple[int, int]: ...


# Extractions as the traffic alerts read them (adapter: FirestoreExtractionRepository)


class ExtractionsInWindow(Protocol):
    """A window's extractions with their stored online evaluations (TrafficAlerts)."""

    def created_between(self, start: datetime, end: datetime, *, limit: int) -> list[ExtractionRecord]: ...
