"""The model quota's shares in Firestore: `quota_shares/{holder}`, one per running shard.

Each running shard writes only its own document (about every 2 s, far under Firestore's
sustained one write a second per document) and reads the collection, a few documents, to count
the live ones; a share whose `until` has passed belongs to a worker that died and is not counted.
The collection is read whole, with no query, so it needs no index.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud import firestore

QUOTA_SHARES = "quota_shares"


class FirestoreQuotaShares:
    def __init__(self, client: firestore.Client) -> None:
        self._shares = client.collection(QUOTA_SHARES)

    def hold(self, holder: str, *, until: datetime) -> None:
        self._shares.document(holder).set({"until": until})

    def live(self, *, now: datetime) -> int:
        return sum(1 for share in self._shares.select(["until"]).stream() if share.get("until") > now)

    def drop(self, holder: str) -> None:
        self._shares.document(holder).delete()
