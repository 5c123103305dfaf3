"""Google Cloud clients, built once per instance (they hold connection pools)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config import get_settings

if TYPE_CHECKING:
    from google.cloud import firestore, storage  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def firestore_client() -> firestore.Client:
    from google.cloud import firestore

    settings = get_settings()
    return firestore.Client(project=settings.gcp_project, database=settings.firestore_database)


@lru_cache(maxsize=1)
def storage_client() -> storage.Client:
    from google.cloud import storage  # type: ignore[attr-defined]

    settings = get_settings()
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=settings.gcp_project, credentials=AnonymousCredentials())
    return storage.Client(project=settings.gcp_project)
