"""How a dataset and its versions are named: checked wherever a client names one (the datasets and
the review queue, experiments and their schedules), written once here."""

from __future__ import annotations

import re

from shared.errors import InvalidField
from shared.models import DATASET_NAME_PATTERN, DATASET_VERSION_PATTERN

NAME = re.compile(DATASET_NAME_PATTERN)
VERSION = re.compile(DATASET_VERSION_PATTERN)
RESERVED_VERSIONS = {"diff", "versions", "candidates"}  # path words of the API
RESERVED_NAMES = {"candidates", "review"}  # `/datasets/candidates`, `/datasets/review/...`


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED_NAMES:
        raise InvalidField(
            "A dataset name is 1-63 characters: lowercase letters, digits, '_' and '-', starting with a "
            f"letter or digit, and not one of {sorted(RESERVED_NAMES)}.",
            details={"field": "name"},
        )
    return name


def check_version(version: str) -> str:
    if (
        not isinstance(version, str)
        or not VERSION.fullmatch(version)
        or ".." in version
        or version in RESERVED_VERSIONS
    ):
        raise InvalidField(
            "A version is a short label (at most 32 characters: letters, digits, '.', '_' and '-'), "
            "such as v1, v1.0 or 2026-11-27.",
            details={"field": "version"},
        )
    return version
