"""API_KEYS parsing, the constant-time lookup over sha256 digests, and the names a write records."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from shared import api_keys
from shared.api_keys import acting_as, find_key, parse_api_keys
from shared.config import LOCAL_API_KEY, Settings


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def secret(**entries: dict) -> str:
    return json.dumps(entries)


def test_named_keys_are_found_by_the_sha256_of_the_given_key():
    keys = parse_api_keys(
        secret(
            ci={"sha256": digest("ci-key"), "scopes": ["write"]},
            ada={"sha256": digest("ada-key"), "scopes": ["review"]},
        )
    )

    found = find_key("ada-key", keys)

    assert found is not None and found.name == "ada"
    assert found.may("review") and found.may("read") and not found.may("write") and not found.may("feedback")
    assert find_key("ci-key", keys).scopes == {"write", "read"}
    assert find_key("nobody", keys) is None
    assert "ada-key" not in repr(found) and digest("ada-key") not in repr(found)


def test_every_digest_is_compared_in_constant_time_even_after_a_match(monkeypatch):
    keys = parse_api_keys(secret(**{f"k{i}": {"sha256": digest(f"key-{i}"), "scopes": ["read"]} for i in range(5)}))
    compared: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(given: bytes, configured: bytes) -> bool:
        compared.append((given, configured))
        return compare_digest(given, configured)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", spy)

    found = find_key("key-0", keys)

    assert found is not None and found.name == "k0"
    assert len(compared) == 5  # no early exit on the first key's match
    assert all(given == hashlib.sha256(b"key-0").digest() and len(configured) == 32 for given, configured in compared)


def test_the_plain_local_form_makes_admin_keys_named_local():
    keys = parse_api_keys("one, two")

    assert [key.name for key in keys] == ["local", "local-2"]
    assert all(key.may(scope) for key in keys for scope in api_keys.SCOPES)
    assert find_key("two", keys).name == "local-2"
    assert acting_as(keys[0], "ada") == "ada"  # local use: any person, as typed


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        ("{not json", "API_KEYS is not valid JSON"),
        ("[]", "API_KEYS is a plain list"),  # not an object: read as plain keys, refused in production
        ("{}", "must be a non-empty JSON object"),
        (secret(**{"a:b": {"sha256": digest("k"), "scopes": ["read"]}}), "key name 'a:b' must be"),
        (secret(ci={"sha256": "abc", "scopes": ["read"]}), "needs sha256: the 64 lowercase hex digits"),
        (secret(ci={"sha256": digest("k"), "scopes": ["root"]}), "needs scopes: a non-empty list of admin"),
        (secret(ci={"sha256": digest("k"), "scopes": []}), "needs scopes"),
        (secret(ci={"sha256": digest("k"), "scopes": ["read"], "role": "x"}), "unknown fields: role"),
        (secret(ci="plain"), "must be an object"),
        (secret(ci={"sha256": digest("k"), "scopes": ["read"], "delegates": "yes"}), "delegates must be true or false"),
    ],
)
def test_a_malformed_secret_fails_at_startup_with_a_sentence(raw, sentence):
    with pytest.raises(ValidationError, match=sentence):
        Settings(api_keys=raw, environment="production" if raw == "[]" else "local")


def test_production_refuses_the_plain_form_and_the_local_key_in_any_form():
    with pytest.raises(ValidationError, match="only ENVIRONMENT=local accepts"):
        Settings(api_keys="a-long-production-key", environment="production")
    named_local = Settings(
        api_keys=secret(dev={"sha256": digest(LOCAL_API_KEY), "scopes": ["read"]}), environment="production"
    )
    with pytest.raises(RuntimeError, match="local development key"):
        named_local.check_production_ready()


def test_a_key_records_its_own_name_and_a_delegating_key_prefixes_the_person():
    keys = parse_api_keys(
        secret(
            ada={"sha256": digest("a"), "scopes": ["review"]},
            console={"sha256": digest("c"), "scopes": ["review"], "delegates": True},
        )
    )
    ada, console = keys

    assert acting_as(ada, None) == "ada" and acting_as(ada, "ada") == "ada"
    with pytest.raises(PermissionError, match="records its own name only"):
        acting_as(ada, "bob")
    assert acting_as(console, "bea") == "console:bea"
    assert acting_as(console, "console:bea") == "console:bea"  # the recorded name echoed back
    assert acting_as(console, None) == "console"
    with pytest.raises(PermissionError):
        acting_as(console, "ada:bea")  # never under another key's name


def test_the_local_scheduler_uses_a_plain_key_or_api_key_with_named_keys():
    from infra.local.scheduler import scheduler_api_key

    assert scheduler_api_key({}) == LOCAL_API_KEY
    assert scheduler_api_key({"API_KEYS": " first, second"}) == "first"
    named = secret(ops={"sha256": digest("ops-key"), "scopes": ["write"]})
    assert scheduler_api_key({"API_KEYS": named, "API_KEY": "ops-key"}) == "ops-key"
