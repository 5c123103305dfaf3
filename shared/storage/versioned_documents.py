"""Versioned documents in Firestore, as prompts and judges keep them: `{collection}/{name}` is the
head (the newest number, labels and who last moved each) and `{collection}/{name}/versions/{n}`
the versions, immutable once made.

A version document is created (never set) in one commit with its head's `latest`, so two
concurrent creations never share a number and nothing can overwrite a version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel

from shared.errors import Conflict, NotFound, unavailable

if TYPE_CHECKING:
    from google.cloud import firestore

VERSIONS = "versions"
MAX_LISTED = 500
# Concurrent writers of one head retry; past this many attempts the caller is told to try again
# (a 409) rather than a 500 (the client library raises a bare ValueError).
_ATTEMPTS = 20


class Version(Protocol):
    name: str
    version: int
    created_at: datetime

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self: ...

    def model_dump(self) -> dict[str, Any]: ...


H = TypeVar("H", bound=BaseModel)
V = TypeVar("V", bound=Version)
T = TypeVar("T")


class VersionedDocuments(Generic[H, V]):
    """Heads of type H and versions of type V under `collection`; `noun` names them in errors."""

    def __init__(
        self, client: firestore.Client, *, collection: str, noun: str, head: type[H], version: type[V]
    ) -> None:
        self._client = client
        self._heads = client.collection(collection)
        self._noun = noun
        self._head_type = head
        self._version_type = version

    def _head_ref(self, name: str) -> firestore.DocumentReference:
        return self._heads.document(name)

    def _version_ref(self, name: str, number: int) -> firestore.DocumentReference:
        return self._head_ref(name).collection(VERSIONS).document(str(number))

    def head(self, name: str) -> H | None:
        snapshot = self._head_ref(name).get()
        return self._head_type.model_validate(snapshot.to_dict()) if snapshot.exists else None

    def heads(self) -> list[H]:
        """Every head, by name (at most MAX_LISTED)."""
        query = self._heads.order_by("name").limit(MAX_LISTED)
        return [self._head_type.model_validate(snapshot.to_dict()) for snapshot in query.stream()]

    def version(self, name: str, number: int) -> V | None:
        snapshot = self._version_ref(name, number).get()
        return self._validate_version(snapshot.to_dict()) if snapshot.exists else None

    def versions(self, name: str) -> list[V]:
        """Every version of `name`, oldest first (at most MAX_LISTED)."""
        query = self._head_ref(name).collection(VERSIONS).order_by("version").limit(MAX_LISTED)
        return [self._validate_version(snapshot.to_dict()) for snapshot in query.stream()]

    def add_version(self, version: V) -> V:
        """Store `version` under the next number of its head (made with it when new); the stored
        version, with its number, is returned.

        Optimistic, not a transaction: the version document is created (fails if the number is
        taken) in one commit with the head's `latest`, and a writer that lost the number re-reads
        the head and takes the next. Concurrent transactions on one head abort each other on the
        emulator (and contend in production) until their attempts run out.
        """
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
                batch.create(head_ref, _new_head(version.name, numbered.version, version.created_at, {}))
            try:
                batch.commit()
            except exceptions.AlreadyExists:
                continue  # another writer took this number (or made the head) first
            return numbered
        raise self._busy(version.name)

    def seed(self, version: V, labels: dict[str, int]) -> bool:
        """Create the head with `version` as its version 1 and `labels`, only when it does not
        exist; False (nothing written) when it does."""
        from google.api_core import exceptions

        batch = self._client.batch()
        batch.create(self._head_ref(version.name), _new_head(version.name, 1, version.created_at, labels))
        batch.create(self._version_ref(version.name, 1), version.model_copy(update={"version": 1}).model_dump())
        try:
            batch.commit()
        except exceptions.AlreadyExists:
            return False
        return True

    def update_version(self, name: str, number: int, fields: dict[str, Any]) -> None:
        """Add what was learnt about a version after it was made (its other fields never change)."""
        self._version_ref(name, number).update(fields)

    def move_label(self, name: str, label: str, number: int, *, moved_by: str | None, at: datetime) -> H:
        """Point `label` at version `number` (which must exist); the head afterwards."""
        if self.version(name, number) is None:
            raise NotFound(f"{self._noun} {name!r} has no version {number}.", details={"name": name, "version": number})
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

        moved = self._contended(name, lambda: move(self._client.transaction(max_attempts=_ATTEMPTS)))
        return self._head_type.model_validate(moved)

    def _validate_version(self, document: dict[str, Any] | None) -> V:
        return self._version_type.model_validate(document)  # type: ignore[attr-defined, no-any-return]

    def _contended(self, name: str, write: Callable[[], T]) -> T:
        try:
            return write()
        except ValueError as error:
            if (down := unavailable(error)) is not None:  # "no transaction in progress": begin failed
                raise down from error
            raise self._busy(name) from error  # "Failed to commit transaction in N attempts."

    def _busy(self, name: str) -> Conflict:
        return Conflict(
            f"{self._noun} {name!r} is being changed by someone else at this moment; try again.",
            details={"name": name},
        )


def _new_head(name: str, latest: int, at: datetime, labels: dict[str, int]) -> dict[str, Any]:
    return {"name": name, "latest": latest, "labels": labels, "label_moves": {}, "created_at": at, "updated_at": at}
