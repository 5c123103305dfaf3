"""The prompt registry of every function that resolves or edits prompts (extract, experiments and
its worker): built once per instance, on the shared Firestore client."""

from __future__ import annotations

from functools import lru_cache

from shared.config import get_settings
from shared.prompts import Prompt, PromptRegistry
from shared.storage.clients import firestore_client
from shared.storage.prompts import FirestorePromptRepository


@lru_cache(maxsize=1)
def prompt_registry() -> PromptRegistry:
    """The instance's registry, built once with the shared Firestore client."""
    return PromptRegistry(FirestorePromptRepository(firestore_client()), cache_s=get_settings().prompt_cache_s)


def get_prompt(ref: str) -> Prompt:
    """The exact prompt version `ref` names (`name`, `name@n`, `name@label`), through the cache."""
    return prompt_registry().resolve(ref)


def forget_cached_prompts() -> None:
    """Empty the instance's registry's cache, as a new instance starts with none; the services
    built with the registry see that too (tests that reset Firestore)."""
    if prompt_registry.cache_info().currsize:
        prompt_registry().forget()
