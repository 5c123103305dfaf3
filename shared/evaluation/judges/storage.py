"""Firestore repository for judges: `judges/{name}` (newest number, labels) and
`judges/{name}/versions/{n}` (immutable, but for the alignment measured when it was made).

A version document is created (never set) in one commit with its judge's `latest`, so two
concurrent creations never share a number (as prompts, `shared.storage.prompts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import Conflict, NotFound
from shared.evaluation.judges.versions import JudgeHead, JudgeVersion

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "judges"
VERSIONS = "versions"
MAX_LISTED = 500
_ATTEMPTS = 20


class FirestoreJudgeRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._judges = client.collection(COLLECTION)

    def _head_ref(self, name: str) -> firestore.DocumentReference:
        return self._judges.document(name)

    def _version_ref(self, name: str, number: int) -> firestore.DocumentReference:
        return self._head_ref(name).collection(VERSIONS).document(str(number))

    def head(self, name: str) -> JudgeHead | None:
        snapshot = self._head_ref(name).get()
        return JudgeHead.model_validate(snapshot.to_dict()) if snapshot.exists else None

    def heads(self) -> list[JudgeHead]:
        query = self._judges.order_by("name").limit(MAX_LISTED)
        return [JudgeHead.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def version(self, name: str, number: int) -> JudgeVersion | None:
        snapshot = self._version_ref(name, number).get()
        return JudgeVersion.model_validate(snapshot.to_dict()) if snapshot.exists else None

    def versions(self, name: str) -> list[JudgeVersion]:
        query = self._head_ref(name).collection(VERSIONS).order_by("version").limit(MAX_LISTED)
        return [JudgeVersion.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def add_version(self, version: JudgeVersion) -> JudgeVersion:
        """Store `version` under the next number of its judge (made with it when new)."""
        from google.api_core import exceptions

        head_ref = self._head_ref(version.name)
        for _ in range(_ATTEMPTS):
            snapshot = head_ref.get()
            head = snapshot.to_dict() if snapshot.exists else None
            numbered = version.model_copy(update={"version": (head["latest"] if head else 0) + 1})
            batch = self._client.batch()
            batch.create(self._version_ref(version.name, numbered.version), numbered.model_dump())
            if head:
                batch.update(head_ref, {"latest": numbered.version, "updated_at": version.created_at})
            else:
                batch.create(head_ref, _new_head(version.name, numbered.version, version.created_at))
            try:
                batch.commit()
            except exceptions.AlreadyExists:
                continue  # another writer took this number (or made the head) first
            return numbered
        raise Conflict(
            f"Judge {version.name!r} is being changed by someone else at this moment; try again.",
            details={"name": version.name},
        )

    def set_alignment(self, name: str, number: int, alignment: dict[str, Any]) -> None:
        """Record what the alignment that made this version measured (written once, after it)."""
        self._version_ref(name, number).update({"alignment": alignment})

    def move_label(self, name: str, label: str, number: int, *, at: datetime) -> JudgeHead:
        if self.version(name, number) is None:
            raise NotFound(f"Judge {name!r} has no version {number}.", details={"name": name, "version": number})
        from google.cloud import firestore

        head_ref = self._head_ref(name)

        @firestore.transactional
        def move(transaction: firestore.Transaction) -> dict[str, Any]:
            head = head_ref.get(transaction=transaction).to_dict() or {}
            labels = {**(head.get("labels") or {}), label: number}
            transaction.update(head_ref, {"labels": labels, "updated_at": at})
            return {**head, "labels": labels, "updated_at": at}

        try:
            moved = move(self._client.transaction(max_attempts=_ATTEMPTS))
        except ValueError as error:
            raise Conflict(f"Judge {name!r} is being changed by someone else; try again.") from error
        return JudgeHead.model_validate(moved)


def _new_head(name: str, latest: int, at: datetime) -> dict[str, Any]:
    return {"name": name, "latest": latest, "labels": {}, "created_at": at, "updated_at": at}
