"""Datadog's tag rules, applied to every tag we send (clients' tags included).

A tag is `key:value`, at most 200 characters, lowercase; the key starts with a letter; only
letters, digits, `_ - : . /` survive (anything else becomes `_`). Datadog would rewrite a bad
tag itself; doing it here means the stored evaluation shows exactly what Datadog got.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_TAG_LENGTH = 200
_INVALID = re.compile(r"[^a-z0-9_\-:./]+")


def sanitise_tags(tags: Mapping[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for key, value in tags.items():
        safe_key = _clean(key).lstrip("0123456789_-:./") or "tag"
        safe_key = safe_key[:100]
        budget = MAX_TAG_LENGTH - len(safe_key) - 1
        clean[safe_key] = _clean(value)[:budget]
    return clean


def _clean(text: str) -> str:
    return _INVALID.sub("_", text.strip().lower()).strip("_")
