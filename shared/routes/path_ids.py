"""Ids in a request's path or query: one that could never have been stored is simply not found."""

from __future__ import annotations

import re

from shared.errors import NotFound
from shared.models import EXPERIMENT_ID_PATTERN, SCHEDULE_ID_PATTERN

_EXPERIMENT_ID = re.compile(EXPERIMENT_ID_PATTERN)
_SCHEDULE_ID = re.compile(SCHEDULE_ID_PATTERN)


def known_experiment_id(experiment_id: str) -> str:
    if not _EXPERIMENT_ID.fullmatch(experiment_id):
        raise NotFound(f"No experiment {experiment_id!r}.")
    return experiment_id


def known_schedule_id(schedule_id: str) -> str:
    if not _SCHEDULE_ID.fullmatch(schedule_id):
        raise NotFound(f"No schedule {schedule_id!r}.")
    return schedule_id
