"""Client-chosen maps (tags, metadata, params) that Firestore can store.

A Firestore write fails as a whole when any value in it breaks one of Firestore's rules, so these
are checked when the request is parsed (a 422 naming the field), not when the record is written
(a 500): a map key is not empty and not `__name__`-shaped, at any depth; an array holds no array
directly; an integer fits in 64 bits; and nesting stays well inside Firestore's 20 levels (the map
itself sits a level or two down in its document).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, StrictStr

RESERVED_KEY = re.compile(r"^__.*__$", re.DOTALL)
# Firestore's limit on a field name is 1500 bytes: 375 characters of up to 4 bytes each always fit,
# and a character count is what openapi.yaml can state.
MAX_KEY_CHARACTERS = 375
MAX_DEPTH = 16
INT64 = range(-(2**63), 2**63)


def storable(value: Any) -> Any:
    """`value` unchanged when Firestore can store every part of it; ValueError saying what cannot."""
    pending: list[tuple[Any, int, bool]] = [(value, 1, False)]
    while pending:
        current, depth, in_array = pending.pop()
        if depth > MAX_DEPTH:
            raise ValueError(f"maps and arrays nest at most {MAX_DEPTH} levels deep")
        if isinstance(current, dict):
            for key, item in current.items():
                if not isinstance(key, str) or not key or RESERVED_KEY.match(key) or len(key) > MAX_KEY_CHARACTERS:
                    raise ValueError(
                        f"keys are 1-{MAX_KEY_CHARACTERS} characters and not of the form __name__ "
                        f"(Firestore reserves those); {str(key)[:40]!r} is not"
                    )
                pending.append((item, depth + 1, False))
        elif isinstance(current, list):
            if in_array:
                raise ValueError("an array cannot hold an array directly (Firestore); wrap it in a map")
            pending.extend((item, depth + 1, True) for item in current)
        elif isinstance(current, int) and not isinstance(current, bool) and current not in INT64:
            raise ValueError("integers must fit in 64 bits (-2^63 to 2^63-1)")
    return value


StorableMap = Annotated[dict[str, Any], AfterValidator(storable)]
StorableTags = Annotated[dict[StrictStr, StrictStr], AfterValidator(storable)]
