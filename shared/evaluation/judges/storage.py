"""Firestore repository for judges: `judges/{name}` (newest number, labels) and
`judges/{name}/versions/{n}` (immutable, but for the alignment measured when it was made), kept as
`shared.storage.versioned_documents` keeps every versioned document (prompts too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.evaluation.judges.versions import JudgeHead, JudgeVersion
from shared.storage.versioned_documents import VersionedDocuments

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "judges"


class FirestoreJudgeRepository(VersionedDocuments[JudgeHead, JudgeVersion]):
    def __init__(self, client: firestore.Client) -> None:
        super().__init__(client, collection=COLLECTION, noun="Judge", head=JudgeHead, version=JudgeVersion)

    def set_alignment(self, name: str, number: int, alignment: dict[str, Any]) -> None:
        """Record what the alignment that made this version measured (written once, after it)."""
        self.update_version(name, number, {"alignment": alignment})
