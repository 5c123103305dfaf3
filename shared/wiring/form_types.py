"""The form type registry of every function that reads, checks or stores results by type: built
once per instance, on the shared Firestore client."""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.form_types.registry import FormTypeRegistry
from shared.storage.clients import firestore_client
from shared.storage.form_types import FirestoreFormTypeRepository


@lru_cache(maxsize=1)
def form_type_registry() -> FormTypeRegistry:
    """The instance's registry, built once with the shared Firestore client."""
    return FormTypeRegistry(FirestoreFormTypeRepository(firestore_client()), cache_s=get_settings().prompt_cache_s)


def forget_cached_form_types() -> None:
    """Empty the instance's cache (tests that reset Firestore)."""
    if form_type_registry.cache_info().currsize:
        form_type_registry().forget()
