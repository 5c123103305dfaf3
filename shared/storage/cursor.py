"""Page cursors for listings ordered by a field: the next page starts after the last document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import MalformedRequest

if TYPE_CHECKING:
    from google.cloud import firestore


def start_after_document(
    query: firestore.Query, collection: firestore.CollectionReference, document_id: str | None
) -> firestore.Query:
    """`query` resumed after `document_id` (a page token's key); a snapshot cursor also orders by
    the document id, so equal sort values never repeat or skip across pages."""
    if document_id is None:
        return query
    last = collection.document(document_id).get()
    if not last.exists:
        raise MalformedRequest("page_token is not one this API gave out.")
    return query.start_after(last)
