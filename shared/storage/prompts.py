"""Firestore repository for prompts: `prompts/{name}` (newest number, labels and who moved them)
and `prompts/{name}/versions/{n}` (immutable), kept as `shared.storage.versioned_documents` keeps
every versioned document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.prompts.versions import PromptHead, PromptVersion
from shared.storage.versioned_documents import VersionedDocuments

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "prompts"


class FirestorePromptRepository(VersionedDocuments[PromptHead, PromptVersion]):
    def __init__(self, client: firestore.Client) -> None:
        super().__init__(client, collection=COLLECTION, noun="Prompt", head=PromptHead, version=PromptVersion)
