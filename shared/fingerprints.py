"""What makes two requests under one idempotency id "the same request": a hash of their JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_sha256(body: Any) -> str:
    """The sha256 of `body` as JSON with sorted keys (so key order never makes two bodies differ)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
