"""Every multi-field Firestore query in shared/ has its composite index, and Terraform creates them."""

from __future__ import annotations

import pytest

from shared.storage.indexes import (
    COMPOSITE_INDEXES,
    INDEX_EXEMPTIONS,
    SINGLE_FIELD_OVERRIDES,
    CompositeIndex,
    asc,
    desc,
)
from tests.deploy.firestore_queries import Constraint, FoundQuery, scan_source, scan_tree
from tests.deploy.terraform_config import ROOT, load_terraform


def covers(index: CompositeIndex, query: FoundQuery) -> bool:
    prefix, ordered = query.index_shape()
    fields = [(f.path, f.order) for f in index.fields if f.path != "__name__"]
    head, tail = fields[: len(prefix)], fields[len(prefix) :]
    return (
        index.collection == query.collection
        and index.query_scope == query.query_scope
        and frozenset(head) == prefix
        and tuple(tail) == ordered
    )


def covered_by_merging(query: FoundQuery, indexes: tuple[CompositeIndex, ...]) -> bool:
    """Firestore's index merging: a query with only equality filters (==) and an order is served by
    merging one index per filter field, each (field, then the same order): no index per combination."""
    prefix, ordered = query.index_shape()
    if not ordered or any(c.kind != "equality" for c in query.constraints if c.kind != "order"):
        return False
    shapes = {
        (i.collection, i.query_scope, tuple((f.path, f.order) for f in i.fields if f.path != "__name__"))
        for i in indexes
    }
    return all((query.collection, query.query_scope, ((path, order), *ordered)) in shapes for path, order in prefix)


def needed_index(query: FoundQuery) -> str:
    """What to paste into COMPOSITE_INDEXES and infra/terraform/firestore.tf for `query`."""
    prefix, ordered = query.index_shape()
    fields = sorted(prefix) + list(ordered)
    python = ", ".join(f'{"desc" if order == "DESCENDING" else "asc"}("{path}")' for path, order in fields)
    python += "," if len(fields) == 1 else ""
    name = "_".join([query.collection, *(path for path, _ in fields)])
    blocks = "".join(
        f'\n  fields {{\n    field_path = "{path}"\n    order      = "{order}"\n  }}' for path, order in fields
    )
    return (
        f'CompositeIndex("{query.collection}", ({python}))\n\n'
        f'resource "google_firestore_index" "{name}" {{\n  project    = var.project\n'
        f"  database   = google_firestore_database.main.name\n"
        f'  collection = "{query.collection}"\n{blocks}\n}}'
    )


@pytest.fixture(scope="module")
def scanned():
    return scan_tree(ROOT / "shared", ROOT)


def test_the_scan_understands_every_query_in_shared(scanned):
    assert scanned.problems == []


def test_the_scan_finds_the_known_composite_query(scanned):
    golden = [
        q for q in scanned.queries if q.collection == "extractions" and q.fields == {"golden_candidate", "in_dataset"}
    ]

    assert golden, "the scan no longer sees extractions.golden_candidates: it would miss other queries too"


def test_every_multi_field_query_has_a_declared_composite_index(scanned):
    missing = [
        q
        for q in scanned.queries
        if len(q.fields) >= 2
        and not any(covers(i, q) for i in COMPOSITE_INDEXES)
        and not covered_by_merging(q, COMPOSITE_INDEXES)
    ]

    assert not missing, "\n\n".join(
        f"{q.location} queries {q.collection} on {sorted(q.fields)} with no composite index; add:\n{needed_index(q)}"
        for q in sorted(missing, key=lambda q: q.location)
    )


def test_terraform_creates_exactly_the_declared_indexes():
    resources = load_terraform().of_type("google_firestore_index")
    in_terraform = {
        (
            body["collection"],
            body.get("query_scope", "COLLECTION"),
            tuple((f["field_path"], f.get("order", "ASCENDING")) for f in body["fields"]),
        )
        for body in resources.values()
    }
    declared = {(i.collection, i.query_scope, tuple((f.path, f.order) for f in i.fields)) for i in COMPOSITE_INDEXES}

    assert len(resources) == len(COMPOSITE_INDEXES), "one google_firestore_index per declared index"
    assert in_terraform == declared
    for body in resources.values():
        assert body["database"] == "${google_firestore_database.main.name}"


def test_every_single_field_collection_group_query_has_its_field_override(scanned):
    declared = {(o.collection, o.field) for o in SINGLE_FIELD_OVERRIDES}
    missing = [
        q
        for q in scanned.queries
        if q.query_scope == "COLLECTION_GROUP" and len(q.fields) == 1 and (q.collection, *q.fields) not in declared
    ]

    assert not missing, "\n".join(
        f"{q.location} queries the {q.collection} group on {sorted(q.fields)}: add it to SINGLE_FIELD_OVERRIDES "
        "and a google_firestore_field to infra/terraform/firestore.tf"
        for q in missing
    )


def test_the_scan_sees_the_collection_group_queries_of_deleting_an_extraction(scanned):
    groups = {(q.collection, frozenset(q.fields)) for q in scanned.queries if q.query_scope == "COLLECTION_GROUP"}

    assert ("entries", frozenset({"source.extraction_id"})) in groups
    assert ("entries", frozenset({"input.image_uri"})) in groups


def test_terraform_creates_exactly_the_declared_field_overrides():
    resources = load_terraform().of_type("google_firestore_field")
    in_terraform, exempted = set(), set()
    for body in resources.values():
        assert body["database"] == "${google_firestore_database.main.name}"
        indexes = [index for config in body["index_config"] for index in (config or {}).get("indexes", [])]
        if not indexes:
            exempted.add((body["collection"], body["field"]))
        for index in indexes:
            in_terraform.add((body["collection"], body["field"], index["order"], index["query_scope"]))

    assert in_terraform == {(o.collection, o.field, o.order, o.query_scope) for o in SINGLE_FIELD_OVERRIDES}
    assert exempted == set(INDEX_EXEMPTIONS)
    assert len(resources) == len(SINGLE_FIELD_OVERRIDES) + len(INDEX_EXEMPTIONS), "one google_firestore_field each"


# --- the scan itself, on small sources ------------------------------------------------------

_REPOSITORY = """
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud import firestore

COLLECTION = "things"

class Things:
    def __init__(self, client):
        self._client = client
        self._collection = client.collection(COLLECTION)

    def _parts(self, thing_id):
        return self._collection.document(thing_id).collection("parts")

{body}
"""


def _scan(body: str) -> set[tuple[str, tuple[tuple[str, str, str], ...]]]:
    result = scan_source(_REPOSITORY.format(body=body))
    assert result.problems == []
    return {(q.collection, tuple((c.kind, c.field, c.direction) for c in q.constraints)) for q in result.queries}


def test_scan_reads_a_chained_query_with_its_order_and_direction():
    found = _scan(
        "    def newest(self, owner):\n"
        '        query = self._collection.where(filter=FieldFilter("owner", "==", owner))'
        '.order_by("created_at", direction=firestore.Query.DESCENDING).limit(5)\n'
        "        return [s.to_dict() for s in query.stream()]\n"
    )

    assert ("things", (("equality", "owner", "ASCENDING"), ("order", "created_at", "DESCENDING"))) in found


def test_scan_follows_a_subcollection_method_and_a_query_built_under_an_if():
    found = _scan(
        "    def parts(self, thing_id, colour=None):\n"
        "        query = self._parts(thing_id)\n"
        "        if colour:\n"
        '            query = query.where("colour", "==", colour)\n'
        '        query = query.order_by("position")\n'
        "        return list(query.stream())\n"
    )

    assert ("parts", (("order", "position", "ASCENDING"),)) in found
    assert ("parts", (("equality", "colour", "ASCENDING"), ("order", "position", "ASCENDING"))) in found


def test_scan_counts_an_aggregation_and_a_range_filter():
    found = _scan(
        "    def late(self, since):\n"
        '        recent = self._collection.where(filter=FieldFilter("due", ">=", since))\n'
        '        late = recent.where(filter=FieldFilter("state", "in", ["open", "stuck"]))\n'
        "        return recent.count().get()[0][0].value, late.count().get()[0][0].value\n"
    )

    assert ("things", (("range", "due", "ASCENDING"), ("equality", "state", "ASCENDING"))) in found


def test_scan_reports_a_query_it_cannot_trace():
    result = scan_source(
        _REPOSITORY.format(body="    def odd(self, q):\n        return q.where('a', '==', 1).stream()\n")
    )

    assert result.problems and "cannot trace" in result.problems[0]


def test_an_index_covers_a_query_only_with_its_collection_fields_and_directions():
    query = FoundQuery(
        "x.py:1",
        "alerts",
        "COLLECTION",
        (Constraint("equality", "schedule_id"), Constraint("order", "created_at", "DESCENDING")),
    )

    assert covers(CompositeIndex("alerts", (asc("schedule_id"), desc("created_at"))), query)
    assert not covers(CompositeIndex("alerts", (asc("schedule_id"), asc("created_at"))), query)
    assert not covers(CompositeIndex("alerts", (desc("created_at"), asc("schedule_id"))), query)
    assert not covers(CompositeIndex("feedback", (asc("schedule_id"), desc("created_at"))), query)
    assert not covers(CompositeIndex("alerts", (asc("schedule_id"), desc("created_at")), "COLLECTION_GROUP"), query)


def test_merging_covers_equality_filters_only_when_each_field_has_its_index():
    found = scan_source(
        _REPOSITORY.format(
            body="    def newest(self, owner, kind):\n"
            '        query = self._collection.order_by("created_at", direction=firestore.Query.DESCENDING)\n'
            "        if owner:\n"
            '            query = query.where(filter=FieldFilter("owner", "==", owner))\n'
            "        if kind:\n"
            '            query = query.where(filter=FieldFilter("kind", "==", kind))\n'
            "        return [s.to_dict() for s in query.stream()]\n"
        )
    )
    both = next(q for q in found.queries if q.fields == {"owner", "kind", "created_at"})
    owner_only = (CompositeIndex("things", (asc("owner"), desc("created_at"))),)
    each = owner_only + (CompositeIndex("things", (asc("kind"), desc("created_at"))),)
    wrong_order = owner_only + (CompositeIndex("things", (asc("kind"), asc("created_at"))),)

    assert covered_by_merging(both, each)
    assert not covered_by_merging(both, owner_only)
    assert not covered_by_merging(both, wrong_order)


def test_a_collection_named_by_a_variable_is_kept_by_that_name_and_its_composite_query_has_no_index():
    source = (
        "class Versioned:\n"
        "    def __init__(self, client, collection):\n"
        "        self._heads = client.collection(collection)\n"
        "    def heads(self):\n"
        '        return list(self._heads.order_by("name").stream())\n'
        "    def labelled(self, label):\n"
        '        return list(self._heads.where("label", "==", label).order_by("name").stream())\n'
    )
    result = scan_source(source)

    assert result.problems == []
    found = {(q.collection, tuple(sorted(q.fields))) for q in result.queries}
    assert found == {("{collection}", ("name",)), ("{collection}", ("label", "name"))}
    composite = next(q for q in result.queries if len(q.fields) == 2)
    assert not any(covers(index, composite) for index in COMPOSITE_INDEXES)
