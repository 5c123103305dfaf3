"""Client-chosen map keys (tags, metadata, params) that Firestore can store.

Firestore refuses an empty field name and reserves `__name__`-shaped ones, at any depth of a map,
and a write carrying one fails as a whole: checked when the request is parsed (a 422 naming the
field), not when the record is written (a 500).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, StrictStr

RESERVED_KEY = re.compile(r"^__.*__$", re.DOTALL)
MAX_KEY_BYTES = 1500  # Firestore's limit on a field name
KEY_RULE = "keys are non-empty, at most 1500 bytes, and not of the form __name__ (Firestore reserves those)"


def storable_keys(value: Any) -> Any:
    """`value` unchanged when every map key in it, nested in maps and lists, is storable."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            for key, item in current.items():
                if not isinstance(key, str) or not key or RESERVED_KEY.match(key) or len(key.encode()) > MAX_KEY_BYTES:
                    raise ValueError(f"{KEY_RULE}; {str(key)[:40]!r} is not")
                pending.append(item)
        elif isinstance(current, list):
            pending.extend(current)
    return value


StorableMap = Annotated[dict[str, Any], AfterValidator(storable_keys)]
StorableTags = Annotated[dict[StrictStr, StrictStr], AfterValidator(storable_keys)]
