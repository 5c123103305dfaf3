"""Who is calling: named API keys with scopes, and the name a write records.

`API_KEYS` is a JSON object, name -> {"sha256": hex of the key, "scopes": [...], "delegates":
bool}; only digests are configured, so the secret holds no usable key. The old comma-separated
form of plain keys is accepted with ENVIRONMENT=local only: each such key is `admin`, named
`local` (then `local-2`, ...), and may record any person's name (shared/config.py refuses it in
production). A key is found by comparing the sha256 of the given key with every configured digest
in constant time, without stopping at a match.

Scopes: `read` (GET), `feedback` (POST /feedback only), `review` (read + review-queue claim and
decide), `write` (read + extract and dataset, experiment and schedule writes), `admin` (all).

A write records the key's name (`created_by`, `author`, `reviewer`). A key with `"delegates":
true` (the console's: one key for several people) records `{key name}:{person}` for the person a
request names; any other key records its own name only, and naming someone else is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

Scope = Literal["admin", "write", "review", "feedback", "read"]
SCOPES: tuple[str, ...] = get_args(Scope)
# What each scope grants; a key's scopes are the union of what its listed scopes grant.
GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "write": frozenset({"write", "read"}),
    "review": frozenset({"review", "read"}),
    "feedback": frozenset({"feedback"}),
    "read": frozenset({"read"}),
}
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"  # never a ':' (the delegation separator)
# A person's name as people write them (letters of any script, spaces, apostrophes, e-mail
# characters, ':' as in `console:ada`); never a control character, a slash or a leading dot.
PERSON_NAME_PATTERN = r"^[^\W_][\w .'’@+:-]{0,99}$"
_KEY_NAME = re.compile(KEY_NAME_PATTERN)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its name, the sha256 of its value, what it may do."""

    name: str
    digest: bytes = b""
    scopes: frozenset[str] = frozenset()
    delegates: bool = False  # records `{name}:{person}` for the person a request names
    plain: bool = False  # the local plain form: records any person's name as given

    def __repr__(self) -> str:  # never the digest, in logs or tracebacks
        return f"ApiKey(name={self.name!r}, scopes={sorted(self.scopes)})"

    def may(self, scope: str) -> bool:
        return scope in self.scopes


# Who called when the caller is not an API key (Cloud Scheduler's OIDC token).
def service_caller(name: str, *scopes: str) -> ApiKey:
    return ApiKey(name=name, scopes=_granted(scopes))


def _granted(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(GRANTS[scope] for scope in scopes))


def parse_api_keys(raw: str, *, plain_allowed: bool = True) -> list[ApiKey]:
    """The keys of an API_KEYS value; ValueError with a sentence that says what to fix."""
    text = raw.strip()
    if not text:
        raise ValueError("API_KEYS is empty: give a JSON object of named keys (README, Configuration).")
    if not text.startswith("{"):
        if not plain_allowed:
            raise ValueError(
                "API_KEYS is a plain list of keys, which only ENVIRONMENT=local accepts: give a JSON object "
                'name -> {"sha256": ..., "scopes": [...]} (README, Configuration).'
            )
        plain = [key.strip() for key in text.split(",") if key.strip()]
        if not plain:
            raise ValueError("API_KEYS must hold at least one key.")
        return [
            ApiKey(
                name="local" if index == 0 else f"local-{index + 1}",
                digest=hashlib.sha256(key.encode()).digest(),
                scopes=GRANTS["admin"],
                plain=True,
            )
            for index, key in enumerate(plain)
        ]
    try:
        configured = json.loads(text)
    except ValueError as error:
        raise ValueError(f"API_KEYS is not valid JSON ({error}).") from None
    if not isinstance(configured, dict) or not configured:
        raise ValueError("API_KEYS must be a non-empty JSON object: name -> {sha256, scopes}.")
    return [_configured_key(name, entry) for name, entry in configured.items()]


def _configured_key(name: str, entry: object) -> ApiKey:
    if not _KEY_NAME.match(name):
        raise ValueError(
            f"API_KEYS key name {name[:70]!r} must be 1-64 letters, digits, '_', '.', '@' or '-' "
            "(no ':'), starting with a letter or digit."
        )
    if not isinstance(entry, dict):
        raise ValueError(f'API_KEYS entry {name!r} must be an object {{"sha256": ..., "scopes": [...]}}.')
    unknown = set(entry) - {"sha256", "scopes", "delegates"}
    if unknown:
        raise ValueError(f"API_KEYS entry {name!r} has unknown fields: {', '.join(sorted(unknown))}.")
    digest = entry.get("sha256")
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
        raise ValueError(f"API_KEYS entry {name!r} needs sha256: the 64 lowercase hex digits of the key's sha256.")
    scopes = entry.get("scopes")
    if not isinstance(scopes, list) or not scopes or not all(scope in SCOPES for scope in scopes):
        raise ValueError(f"API_KEYS entry {name!r} needs scopes: a non-empty list of {', '.join(SCOPES)}.")
    delegates = entry.get("delegates", False)
    if not isinstance(delegates, bool):
        raise ValueError(f"API_KEYS entry {name!r}: delegates must be true or false.")
    return ApiKey(name=name, digest=bytes.fromhex(digest), scopes=_granted(scopes), delegates=delegates)


def find_key(given: str, keys: Sequence[ApiKey]) -> ApiKey | None:
    """The configured key whose digest is the given key's sha256; every digest is compared, in
    constant time, whatever matched before (the time says nothing about which key, or how much of
    one, matched)."""
    digest = hashlib.sha256(given.encode()).digest()
    found = None
    for key in keys:
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def acting_as(key: ApiKey, person: str | None) -> str:
    """The name a write records for `person` (the name a request gives, if any).

    Raises PermissionError with a sentence when the key may not act under that name.
    """
    if key.plain:
        return person or key.name
    if person is None or person == key.name:
        return key.name
    if key.delegates:
        if person.startswith(f"{key.name}:"):
            person = person.removeprefix(f"{key.name}:")
        if ":" not in person:
            return f"{key.name}:{person}"
    raise PermissionError(
        f"The key {key.name!r} records its own name only: leave the name out or give {key.name!r} "
        f'(a key with "delegates": true records {key.name}:<person>).'
    )
