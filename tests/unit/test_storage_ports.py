"""Each adapter has every call of the ports it fills, with the same parameters.

mypy checks the types where the factories hand the adapters to the use cases; this checks names,
parameters and defaults of every port, the experiments' included, with the unit tests.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from shared.observability.datadog_datasets import push_dataset
from shared.observability.datadog_events import DatadogEvents
from shared.ports import evaluations as evaluation_ports
from shared.ports import experiments as experiment_ports
from shared.ports import services as ports
from shared.pubsub import PubSubPublisher
from shared.storage.alerts import FirestoreAlertRepository
from shared.storage.datasets import FirestoreDatasetRepository
from shared.storage.evaluation_outbox import FirestoreEvaluationOutbox
from shared.storage.experiments import FirestoreExperimentRepository
from shared.storage.extractions import FirestoreExtractionRepository
from shared.storage.feedback import FirestoreFeedbackRepository
from shared.storage.images import GcsImageStore
from shared.storage.prompts import FirestorePromptRepository
from shared.storage.quota_shares import FirestoreQuotaShares
from shared.storage.review import FirestoreReviewRepository
from shared.storage.schedules import FirestoreScheduleRepository
from shared.storage.shards import FirestoreShardRepository

ADAPTERS: dict[type, type] = {
    ports.ImageReader: GcsImageStore,
    ports.ImageStore: GcsImageStore,
    ports.ImageStoreWithDeletion: GcsImageStore,
    ports.ExtractionLookup: FirestoreExtractionRepository,
    ports.ExtractionListing: FirestoreExtractionRepository,
    ports.ExtractionRemoval: FirestoreExtractionRepository,
    ports.ExtractionsBySpan: FirestoreExtractionRepository,
    ports.CandidateExtractions: FirestoreExtractionRepository,
    ports.FeedbackLog: FirestoreFeedbackRepository,
    ports.FeedbackRemoval: FirestoreFeedbackRepository,
    ports.ReviewQueueProducer: FirestoreReviewRepository,
    ports.ReviewQueueProducerWithRemoval: FirestoreReviewRepository,
    ports.ReviewQueue: FirestoreReviewRepository,
    ports.DatasetDrafts: FirestoreDatasetRepository,
    ports.DatasetStore: FirestoreDatasetRepository,
    ports.DatasetReferences: FirestoreDatasetRepository,
    evaluation_ports.EvaluationOutbox: FirestoreEvaluationOutbox,
    ports.PromptStore: FirestorePromptRepository,
    experiment_ports.MessagePublisher: PubSubPublisher,
    experiment_ports.AlertEvents: DatadogEvents,
    experiment_ports.ExperimentHistory: FirestoreExperimentRepository,
    experiment_ports.ExperimentOutcomes: FirestoreExperimentRepository,
    experiment_ports.ExperimentTracker: FirestoreExperimentRepository,
    experiment_ports.ExperimentControl: FirestoreExperimentRepository,
    experiment_ports.ExperimentListing: FirestoreExperimentRepository,
    experiment_ports.UnfinishedExperiments: FirestoreExperimentRepository,
    experiment_ports.RunSink: FirestoreExperimentRepository,
    experiment_ports.ShardStates: FirestoreShardRepository,
    experiment_ports.ShardPlans: FirestoreShardRepository,
    experiment_ports.ShardRecovery: FirestoreShardRepository,
    experiment_ports.ShardLeases: FirestoreShardRepository,
    experiment_ports.QuotaShares: FirestoreQuotaShares,
    experiment_ports.ScheduleLookup: FirestoreScheduleRepository,
    experiment_ports.ScheduleStore: FirestoreScheduleRepository,
    experiment_ports.AlertStore: FirestoreAlertRepository,
    experiment_ports.DatasetReader: FirestoreDatasetRepository,
    experiment_ports.FeedbackCounts: FirestoreFeedbackRepository,
    experiment_ports.FeedbackInWindow: FirestoreFeedbackRepository,
    experiment_ports.ExtractionsInWindow: FirestoreExtractionRepository,
}
# Ports that are one call (`__call__`), filled by a function.
FUNCTIONS: dict[type, Any] = {
    ports.DatasetPush: push_dataset,
}


def _ports_in(module: Any) -> set[type]:
    return {
        value
        for value in vars(module).values()
        if inspect.isclass(value) and value.__module__ == module.__name__ and getattr(value, "_is_protocol", False)
    }


def _members(port: type) -> dict[str, Any]:
    """The port's methods and properties, its parent ports' included."""
    members: dict[str, Any] = {}
    for klass in reversed(port.__mro__):
        if klass is port or klass in ADAPTERS:
            for name, value in vars(klass).items():
                if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property)):
                    members[name] = value
    return members


def _parameters(function: Any) -> list[tuple[str, Any, bool]]:
    return [
        (p.name, p.kind, p.default is inspect.Parameter.empty) for p in inspect.signature(function).parameters.values()
    ]


def test_every_port_names_its_adapter_here():
    declared = _ports_in(ports) | _ports_in(experiment_ports) | _ports_in(evaluation_ports)

    assert declared == set(ADAPTERS) | set(FUNCTIONS), "a port without an adapter check, or a check of one that is gone"


@pytest.mark.parametrize("port", list(ADAPTERS), ids=lambda port: port.__name__)
def test_the_adapter_has_every_call_of_the_port_with_the_same_parameters(port: type):
    adapter = ADAPTERS[port]
    members = _members(port)

    assert members, f"{port.__name__} declares nothing"
    for name, member in members.items():
        found = inspect.getattr_static(adapter, name, None)
        assert found is not None, f"{adapter.__name__} has no {name}, which {port.__name__} needs"
        if isinstance(member, property):
            assert isinstance(found, property), f"{adapter.__name__}.{name} is not a property"
        else:
            assert _parameters(found) == _parameters(member), f"{adapter.__name__}.{name} differs from the port"


@pytest.mark.parametrize("port", list(FUNCTIONS), ids=lambda port: port.__name__)
def test_the_function_takes_the_parameters_of_the_port(port: type):
    assert _parameters(FUNCTIONS[port]) == _parameters(vars(port)["__call__"])[1:]  # less `self`
