"""Firestore repository for form types: `form_types/{name}` (its newest number) and
`form_types/{name}/versions/{n}` (immutable).

A version is created (never set) in one commit with its head's `latest`, so two concurrent
creations never share a number and nothing overwrites a version (as prompts are kept).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.errors import Conflict
from shared.form_types.model import FormType

if TYPE_CHECKING:
    from google.cloud import firestore

COLLECTION = "form_types"
VERSIONS = "versions"
MAX_LISTED = 500
_CREATE_ATTEMPTS = 20


class FirestoreFormTypeRepository:
    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._heads = client.collection(COLLECTION)

    def _version_ref(self, name: str, number: int) -> firestore.DocumentReference:
        return self._heads.document(name).collection(VERSIONS).document(str(number))

    def latest_number(self, name: str) -> int | None:
        snapshot = self._heads.document(name).get()
        return int(snapshot.get("latest")) if snapshot.exists else None

    def version(self, name: str, number: int) -> FormType | None:
        snapshot = self._version_ref(name, number).get()
        return FormType.model_validate(_without_bookkeeping(snapshot.to_dict())) if snapshot.exists else None

    def version_numbers(self, name: str) -> list[int]:
        query = self._heads.document(name).collection(VERSIONS).order_by("version").limit(MAX_LISTED)
        return [int(snapshot.get("version")) for snapshot in query.stream()]

    def names(self) -> list[str]:
        return [snapshot.id for snapshot in self._heads.order_by("name").limit(MAX_LISTED).stream()]

    def add_version(self, form_type: FormType, *, created_at: datetime, created_by: str | None,
                    first: FormType | None = None) -> FormType:  # fmt: skip
        """Store `form_type` under the next number of its name; `first` is written as version 1
        when the name has none yet (a built-in's version 1, so a user's change of it is 2)."""
        from google.api_core import exceptions

        head_ref = self._heads.document(form_type.name)
        for _ in range(_CREATE_ATTEMPTS):
            latest = self.latest_number(form_type.name)
            had_head = latest is not None
            batch = self._client.batch()
            if latest is None and first is not None:
                batch.create(self._version_ref(first.name, 1), _stored(first, created_at, None))
                latest = 1
            numbered = form_type.model_copy(update={"version": (latest or 0) + 1})
            batch.create(self._version_ref(numbered.name, numbered.version), _stored(numbered, created_at, created_by))
            head = {"name": numbered.name, "latest": numbered.version, "updated_at": created_at}
            if not had_head:
                batch.create(head_ref, head)
            else:
                batch.update(head_ref, head)
            try:
                batch.commit()
            except exceptions.AlreadyExists:
                continue  # another writer took this number first
            return numbered
        raise Conflict(
            f"Form type {form_type.name!r} is being changed by someone else at this moment; try again.",
            details={"name": form_type.name},
        )


def _stored(form_type: FormType, created_at: datetime, created_by: str | None) -> dict[str, Any]:
    return {**form_type.model_dump(), "created_at": created_at, "created_by": created_by}


def _without_bookkeeping(document: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (document or {}).items() if k not in ("created_at", "created_by")}
