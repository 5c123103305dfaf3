"""Firestore repository for prompts: `prompts/{name}` (newest number, labels) and
`prompts/{name}/versions/{n}` (immutable).

A version document is created (never set) in one commit with its prompt's `latest`, so two
concurrent creations never share a number and nothing can overwrite a version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import Conflict, NotFound, unavailable
from shared.prompts.versions import PromptHead, PromptVersion

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "prompts"
VERSIONS = "versions"
T = TypeVar("T")
MAX_LISTED = 500
# Concurrent writers of one prompt retry their transaction; past this many attempts the caller is
# told to try again (a 409) rather than a 500 (the client library raises a bare ValueError).
_TRANSACTION_ATTEMPTS = 20


class FirestorePromptRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._prompts = client.collection(COLLECTION)

    def _head_ref(self, name: str) -> firestore.DocumentReference:
        return self._prompts.document(name)

    def _version_ref(self, name: str, number: int) -> firestore.DocumentReference:
        return self._head_ref(name).collection(VERSIONS).document(str(number))

    def head(self, name: str) -> PromptHead | None:
        snapshot = self._head_ref(name).get()
        return PromptHead.model_validate(snapshot.to_dict()) if snapshot.exists else None

    def heads(self) -> list[PromptHead]:
        """Every prompt, by name (at most MAX_LISTED)."""
        query = self._prompts.order_by("name").limit(MAX_LISTED)
        return [PromptHead.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def version(self, name: str, number: int) -> PromptVersion | None:
        snapshot = self._version_ref(name, number).get()
        return PromptVersion.model_validate(snapshot.to_dict()) if snapshot.exists else None

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version of `name`, oldest first (at most MAX_LISTED)."""
        query = self._head_ref(name).collection(VERSIONS).order_by("version").limit(MAX_LISTED)
        return [PromptVersion.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def add_version(self, version: PromptVersion) -> PromptVersion:
        """Store `version` under the next number of its prompt (made with it when new); the stored
        version, with its number, is returned.

        Optimistic, not a transaction: the version document is created (fails if the number is
        taken) in one commit with the head's `latest`, and a writer that lost the number re-reads
        the head and takes the next. Concurrent transactions on one head abort each other on the
        emulator (and contend in production) until their attempts run out.
        """
        from google.api_core import exceptions

        head_ref = self._head_ref(version.name)
        for _ in range(_TRANSACTION_ATTEMPTS):
            snapshot = head_ref.get()
            head = snapshot.to_dict() if snapshot.exists else None
            numbered = version.model_copy(update={"version": (head["latest"] if head else 0) + 1})
            batch = self._client.batch()
            batch.create(self._version_ref(version.name, numbered.version), numbered.model_dump())
            if head:
                batch.update(head_ref, {"latest": numbered.version, "updated_at": version.created_at})
            else:
                batch.create(head_ref, _new_head(version.name, numbered.version, version.created_at, {}))
            try:
                batch.commit()
            except exceptions.AlreadyExists:
                continue  # another writer took this number (or made the head) first
            return numbered
        raise Conflict(
            f"Prompt {version.name!r} is being changed by someone else at this moment; try again.",
            details={"name": version.name},
        )

    def seed(self, version: PromptVersion, labels: dict[str, int]) -> bool:
        """Create the prompt with `version` as its version 1 and `labels`, only when the prompt does
        not exist; False (nothing written) when it does."""
        from google.api_core import exceptions

        batch = self._client.batch()
        batch.create(self._head_ref(version.name), _new_head(version.name, 1, version.created_at, labels))
        batch.create(self._version_ref(version.name, 1), version.model_copy(update={"version": 1}).model_dump())
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            return False
        return True

    def move_label(self, name: str, label: str, number: int, *, moved_by: str | None, at: datetime) -> PromptHead:
        """Point `label` at version `number` (which must exist); the prompt's head afterwards."""
        if self.version(name, number) is None:
            raise NotFound(f"Prompt {name!r} has no version {number}.", details={"name": name, "version": number})
        from google.cloud import firestore

        head_ref = self._head_ref(name)

        @firestore.transactional
        def move(transaction: firestore.Transaction) -> dict[str, Any]:
            head = head_ref.get(transaction=transaction).to_dict() or {}
            previous = (head.get("labels") or {}).get(label)
            labels = {**(head.get("labels") or {}), label: number}
            moves = {**(head.get("label_moves") or {}), label: {"by": moved_by, "at": at, "from": previous}}
            transaction.update(head_ref, {"labels": labels, "label_moves": moves, "updated_at": at})
            return {**head, "labels": labels, "label_moves": moves, "updated_at": at}

        moved = _contended(name, lambda: move(self._client.transaction(max_attempts=_TRANSACTION_ATTEMPTS)))
        return PromptHead.model_validate(moved)


def _contended(name: str, write: Callable[[], T]) -> T:
    try:
        return write()
    except ValueError as error:
        if (down := unavailable(error)) is not None:  # "no transaction in progress": begin failed
            raise down from error
        # "Failed to commit transaction in N attempts."
        raise Conflict(
            f"Prompt {name!r} is being changed by someone else at this moment; try again.", details={"name": name}
        ) from error


def _new_head(name: str, latest: int, at: datetime, labels: dict[str, int]) -> dict[str, Any]:
    return {"name": name, "latest": latest, "labels": labels, "label_moves": {}, "created_at": at, "updated_at": at}
