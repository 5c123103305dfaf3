"""The form type registry on the Firestore emulator: the built-ins are version 1 without being
written, a user's type is numbered and immutable, a built-in's name continues from 1, concurrent
creations never share a number, and the cache never serves a stale `name@n`."""

from __future__ import annotations

import threading

import pytest

from shared.errors import InvalidField, NotFound
from shared.form_types.builtin import BUILTIN_FORM_TYPES
from shared.form_types.model import FormTypeDraft
from shared.form_types.registry import FormTypeRegistry
from shared.storage.clients import firestore_client
from shared.storage.form_types import FirestoreFormTypeRepository

COUNTY = {
    "name": "county_tally",
    "title": "County tally sheet",
    "statistics": [{"key": "cast", "label": "Ballots cast"}, {"key": "valid_votes", "label": "Valid votes"}],
    "rules": [{"id": "valid_within_cast", "expr": "valid_votes <= cast"}],
}


@pytest.fixture
def registry(clean_firestore) -> FormTypeRegistry:
    return FormTypeRegistry(FirestoreFormTypeRepository(firestore_client()), cache_s=60)


def test_the_built_ins_are_version_1_and_listed(registry: FormTypeRegistry) -> None:
    assert registry.get("ng_ec8a") is BUILTIN_FORM_TYPES["ng_ec8a"]
    assert registry.get("ke_34a@1").ref == "ke_34a@1"
    assert [t.name for t in registry.listing()] == sorted(BUILTIN_FORM_TYPES)
    assert registry.describe("bo_acta")["versions"] == [1]
    with pytest.raises(NotFound):
        registry.get("bo_acta@2")
    with pytest.raises(InvalidField) as unknown:
        registry.resolve("nowhere")
    assert unknown.value.details["field"] == "form_type"


def test_a_users_type_is_numbered_and_its_versions_stay_as_made(registry: FormTypeRegistry) -> None:
    first = registry.create(FormTypeDraft.model_validate(COUNTY), created_by="tester")
    second = registry.create(
        FormTypeDraft.model_validate({**COUNTY, "title": "County tally sheet, 2027"}), created_by="tester"
    )

    assert (first.ref, second.ref) == ("county_tally@1", "county_tally@2")
    assert registry.get("county_tally").title == "County tally sheet, 2027"
    assert registry.get("county_tally@1").title == "County tally sheet"
    assert registry.describe("county_tally@1")["versions"] == [1, 2]
    fresh = FormTypeRegistry(FirestoreFormTypeRepository(firestore_client()), cache_s=60)
    assert fresh.get("county_tally@1") == first and "county_tally" in fresh.names()


def test_a_built_ins_name_continues_from_its_shipped_version(registry: FormTypeRegistry) -> None:
    ke = BUILTIN_FORM_TYPES["ke_34a"].model_dump(exclude={"version"})
    ke["statistics"] = [*ke["statistics"], {"key": "ballots_in_box", "label": "Ballots in box"}]

    changed = registry.create(FormTypeDraft.model_validate(ke), created_by="tester")

    assert changed.ref == "ke_34a@2"
    assert registry.get("ke_34a@1") == BUILTIN_FORM_TYPES["ke_34a"]
    assert registry.describe("ke_34a")["versions"] == [1, 2]


def test_concurrent_creations_never_share_a_number(registry: FormTypeRegistry) -> None:
    made: list[int] = []
    draft = FormTypeDraft.model_validate(COUNTY)

    def create() -> None:
        made.append(registry.create(draft, created_by="racer").version)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(made) == [1, 2, 3, 4, 5, 6]
