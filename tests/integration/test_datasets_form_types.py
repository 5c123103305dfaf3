"""Golden data that knows its paper: every expected output that enters a dataset (entries, imports,
replacements, from-trace, review decisions) is checked against its form type, and an entry
carries each rule's verdict on its expected output (`checks`), over the real emulators."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import pytest

from shared.models import DatasetEntry, EntryImage, EntrySource
from shared.storage.clients import firestore_client
from shared.storage.datasets import FirestoreDatasetRepository
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, new_draft
from tests.openapi_contract import assert_matches_contract

ROWS = [("Ada Obi", "APC", 120), ("Bola Eze", "PDP", 80)]  # 200 votes in all


def rows(words: bool = False) -> list[dict]:
    return [
        {"candidate_name": name, "party": party, "vote_count": count}
        | ({"vote_count_words": "ONE HUNDRED AND TWENTY" if count == 120 else "EIGHTY"} if words else {})
        for name, party, count in ROWS
    ]


# A consistent paper of each built-in type (every error rule holds).
PAPERS = {
    "generic": {
        "form": {"form_type": "generic"},
        "vote_results": rows(),
        "ballot_stats": {"valid_votes": 200, "rejected_ballots": 5, "total_ballots": 205},
    },
    "ng_ec8a": {
        "form": {"form_type": "ng_ec8a", "constituency_name": "Ward 4 PU 012"},
        "vote_results": rows(words=True),
        "statistics": {
            "registered_voters": 900,
            "accredited_voters": 260,
            "ballots_issued": 400,
            "unused_ballots": 185,
            "spoiled_ballots": 5,
            "rejected_ballots": 10,
            "valid_votes": 200,
            "used_ballots": 215,
        },
    },
    "bo_acta": {
        "form": {"form_type": "bo_acta@1"},
        "vote_results": rows(),
        "statistics": {
            "registered_voters": 240,
            "ballots_in_box": 212,
            "unused_ballots": 28,
            "valid_votes": 200,
            "blank_votes": 8,
            "null_votes": 4,
        },
    },
    "ke_34a": {
        "form": {"form_type": "ke_34a"},
        "vote_results": rows(),
        "statistics": {
            "registered_voters": 500,
            "rejected_ballots": 6,
            "rejected_objected": 1,
            "disputed_votes": 0,
            "valid_votes": 200,
        },
    },
}
RULES = {
    "generic": ["valid_is_sum_of_votes", "total_is_valid_plus_rejected"],
    "ng_ec8a": [
        "valid_is_sum_of_votes",
        "used_is_spoiled_rejected_valid",
        "issued_is_unused_plus_used",
        "not_over_voted",
        "accredited_within_register",
    ],
    "bo_acta": [
        "valid_is_sum_of_votes",
        "box_is_valid_blank_null",
        "box_within_register",
        "box_plus_unused_is_register",
    ],
    "ke_34a": ["valid_is_sum_of_votes", "not_over_voted"],
}


@pytest.fixture(scope="module")
def image_b64() -> str:
    return base64.b64encode(generate_form(91).image).decode()


def entry(image_b64: str, expected: dict, **extra) -> dict:
    return {"input": {"image_base64": image_b64}, "expected_output": expected, **extra}


def entries_of(datasets_client, name: str) -> list[dict]:
    version = datasets_client.get(f"/{name}/v1", headers=HEADERS)
    assert version.status_code == 200, version.json
    assert_matches_contract("/datasets/{name}/{version}", "GET", 200, version.json)
    return version.json["entries"]


@pytest.mark.parametrize("form_type", sorted(PAPERS))
def test_an_entry_of_each_builtin_type_is_stored_with_its_type_and_every_rules_verdict(
    datasets_client, image_b64, form_type
):
    name = new_draft(datasets_client, "ft")

    added = datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, PAPERS[form_type]), headers=HEADERS)

    assert added.status_code == 201, added.json
    [stored] = entries_of(datasets_client, name)
    assert stored["form_type"] == f"{form_type}@1"
    assert [c["rule"] for c in stored["checks"]] == RULES[form_type]
    assert {c["status"] for c in stored["checks"]} == {"pass"}, stored["checks"]
    assert stored["expected_output"]["form"]["form_type"] == PAPERS[form_type]["form"]["form_type"]  # as given
    one = datasets_client.get(f"/{name}/v1/entries/{stored['id']}", headers=HEADERS)
    assert one.status_code == 200 and one.json["checks"] == stored["checks"]
    assert_matches_contract("/datasets/{name}/{version}/entries/{entry_id}", "GET", 200, one.json)


def test_a_paper_whose_arithmetic_fails_is_kept_with_the_failing_rule_and_its_numbers(datasets_client, image_b64):
    over_voted = json.loads(json.dumps(PAPERS["ng_ec8a"]))
    over_voted["statistics"]["used_ballots"] = 219  # the paper says 219; 5 + 10 + 200 is 215
    over_voted["statistics"]["accredited_voters"] = 190  # fewer accredited than valid + rejected
    name = new_draft(datasets_client, "ft")

    added = datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, over_voted), headers=HEADERS)

    assert added.status_code == 201, added.json
    [stored] = entries_of(datasets_client, name)
    verdicts = {c["rule"]: c for c in stored["checks"]}
    used = verdicts["used_is_spoiled_rejected_valid"]
    assert used["status"] == "fail" and used["severity"] == "error"
    assert "used_ballots (219)" in used["detail"] and "219 != 215" in used["detail"], used
    assert verdicts["not_over_voted"]["status"] == "fail" and "210 > 190" in verdicts["not_over_voted"]["detail"]
    assert verdicts["valid_is_sum_of_votes"]["status"] == "pass"
    # issued 400 == unused 185 + used 219 fails too: the paper is what it is, and every rule says so
    assert verdicts["issued_is_unused_plus_used"]["status"] == "fail"


def test_a_statistic_left_blank_is_not_checked_never_passed(datasets_client, image_b64):
    partial = json.loads(json.dumps(PAPERS["ke_34a"]))
    del partial["statistics"]["registered_voters"]
    name = new_draft(datasets_client, "ft")

    assert (
        datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, partial), headers=HEADERS).status_code == 201
    )

    verdicts = {c["rule"]: c for c in entries_of(datasets_client, name)[0]["checks"]}
    assert verdicts["not_over_voted"]["status"] == "not_checked"
    assert "registered_voters" in verdicts["not_over_voted"]["detail"]


def test_an_unknown_statistic_is_a_422_naming_it_and_nothing_is_written(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    wrong = json.loads(json.dumps(PAPERS["bo_acta"]))
    wrong["statistics"]["accredited_voters"] = 230  # an EC8A row, not on the acta

    alone = datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, wrong), headers=HEADERS)
    batch = datasets_client.post(
        f"/{name}/v1/entries",
        json={"entries": [entry(image_b64, PAPERS["bo_acta"]), entry(image_b64, wrong)]},
        headers=HEADERS,
    )
    # generic's ballot_stats are its statistics: total_ballots is not one of ke_34a's
    stray = json.loads(json.dumps(PAPERS["ke_34a"])) | {"ballot_stats": {"total_ballots": 206}}
    from_ballot_stats = datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, stray), headers=HEADERS)

    for response in (alone, batch, from_ballot_stats):
        assert response.status_code == 422, response.json
        assert_matches_contract("/datasets/{name}/{version}/entries", "POST", 422, response.json)
    assert "names accredited_voters" in alone.json["error"]["message"] and "bo_acta@1" in alone.json["error"]["message"]
    assert alone.json["error"]["details"]["unknown"] == ["accredited_voters"]
    assert batch.json["error"]["details"]["field"] == "entries[1].expected_output.statistics"
    assert from_ballot_stats.json["error"]["details"]["unknown"] == ["total_ballots"]
    version = datasets_client.get(f"/{name}/v1", headers=HEADERS).json
    assert version["entry_count"] == 0 and version["entries"] == []


def test_words_on_a_type_without_a_words_column_are_refused(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    worded = json.loads(json.dumps(PAPERS["ke_34a"])) | {"vote_results": rows(words=True)}

    response = datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, worded), headers=HEADERS)

    assert response.status_code == 422, response.json
    assert "no counts in words" in response.json["error"]["message"]
    assert datasets_client.get(f"/{name}/v1", headers=HEADERS).json["entry_count"] == 0


@pytest.mark.parametrize("form_type", ["ng_ec8b", "ng_ec8a@7", "zz_unknown@1"])
def test_a_form_type_no_type_has_is_a_422_naming_it(datasets_client, image_b64, form_type):
    name = new_draft(datasets_client, "ft")
    expected = PAPERS["generic"] | {"form": {"form_type": form_type}}

    response = datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, expected), headers=HEADERS)

    assert response.status_code == 422, response.json
    assert response.json["error"]["details"]["field"] == "expected_output.form.form_type"
    assert form_type.partition("@")[0] in response.json["error"]["message"]
    assert datasets_client.get(f"/{name}/v1", headers=HEADERS).json["entry_count"] == 0


def test_free_text_written_before_form_types_is_generic(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    legacy = PAPERS["generic"] | {"form": {"form_type": "Form 34A"}}

    assert (
        datasets_client.post(f"/{name}/v1/entries", json=entry(image_b64, legacy), headers=HEADERS).status_code == 201
    )

    [stored] = entries_of(datasets_client, name)
    assert stored["form_type"] == "generic@1" and stored["expected_output"]["form"]["form_type"] == "Form 34A"


def test_an_entry_made_before_form_types_reads_as_generic_with_its_checks(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    assert (
        datasets_client.post(
            f"/{name}/v1/entries", json=entry(image_b64, PAPERS["generic"]), headers=HEADERS
        ).status_code
        == 201
    )
    made = entries_of(datasets_client, name)[0]
    # As an older release stored it: no form_type, no checks, a free-text form type, rows off by one.
    old = DatasetEntry(
        id="made-before",
        input=EntryImage(**{k: made["input"][k] for k in ("image_uri", "image_sha256", "content_type")}),
        expected_output={
            "form": {"form_type": "Form 36B"},
            "vote_results": [{"candidate_name": "A", "vote_count": 100}, {"candidate_name": "B", "vote_count": 50}],
            "ballot_stats": {"valid_votes": 151, "rejected_ballots": 4, "total_ballots": 155},
        },
        source=EntrySource(kind="manual"),
        created_at=datetime.now(UTC),
        content_sha256="0" * 64,
    )
    FirestoreDatasetRepository(firestore_client()).add(name, "v1", [old])
    assert firestore_client().document(f"datasets/{name}/versions/v1/entries/made-before").get().get("checks") is None

    read = datasets_client.get(f"/{name}/v1/entries/made-before", headers=HEADERS).json
    listed = {e["id"]: e for e in entries_of(datasets_client, name)}["made-before"]

    for body in (read, listed):
        assert body["form_type"] == "generic@1"
        verdicts = {c["rule"]: c["status"] for c in body["checks"]}
        assert verdicts == {"valid_is_sum_of_votes": "fail", "total_is_valid_plus_rejected": "pass"}


def test_replacing_an_expected_output_checks_it_again(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    made = datasets_client.post(
        f"/{name}/v1/entries", json=entry(image_b64, PAPERS["ke_34a"], id="pu-1"), headers=HEADERS
    )
    assert made.status_code == 201, made.json
    off_by_one = json.loads(json.dumps(PAPERS["ke_34a"]))
    off_by_one["statistics"]["valid_votes"] = 201
    wrong = json.loads(json.dumps(PAPERS["ke_34a"]))
    wrong["statistics"]["spoiled_ballots"] = 3

    refused = datasets_client.put(f"/{name}/v1/entries/pu-1", json={"expected_output": wrong}, headers=HEADERS)
    replaced = datasets_client.put(f"/{name}/v1/entries/pu-1", json={"expected_output": off_by_one}, headers=HEADERS)

    assert refused.status_code == 422 and refused.json["error"]["details"]["unknown"] == ["spoiled_ballots"]
    assert replaced.status_code == 200, replaced.json
    assert_matches_contract("/datasets/{name}/{version}/entries/{entry_id}", "PUT", 200, replaced.json)
    verdicts = {c["rule"]: c for c in replaced.json["checks"]}
    assert (
        verdicts["valid_is_sum_of_votes"]["status"] == "fail"
        and "201 != 200" in verdicts["valid_is_sum_of_votes"]["detail"]
    )
    stored = datasets_client.get(f"/{name}/v1/entries/pu-1", headers=HEADERS).json
    assert stored["expected_output"]["statistics"]["valid_votes"] == 201 and stored["checks"] == replaced.json["checks"]


def test_an_import_rejects_the_line_with_an_unknown_statistic_naming_it(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    seeded = datasets_client.post(
        f"/{name}/v1/entries", json=entry(image_b64, PAPERS["generic"], id="seed"), headers=HEADERS
    )
    assert seeded.status_code == 201
    uri = entries_of(datasets_client, name)[0]["input"]["image_uri"]
    wrong = json.loads(json.dumps(PAPERS["ng_ec8a"]))
    wrong["statistics"]["ballots_in_box"] = 215
    lines = [
        {"id": "ec8a-1", "input": {"image_uri": uri}, "expected_output": PAPERS["ng_ec8a"]},
        {"id": "ec8a-2", "input": {"image_uri": uri}, "expected_output": wrong},
        {"id": "acta-1", "input": {"image_uri": uri}, "expected_output": PAPERS["bo_acta"]},
        {
            "id": "nope-1",
            "input": {"image_uri": uri},
            "expected_output": PAPERS["generic"] | {"form": {"form_type": "zz_none"}},
        },
    ]
    body = "\n".join(json.dumps(line) for line in lines)

    all_or_nothing = datasets_client.post(
        f"/{name}/v1/import?all_or_nothing=true", data=body, headers=HEADERS, content_type="application/x-ndjson"
    )
    line_by_line = datasets_client.post(
        f"/{name}/v1/import", data=body, headers=HEADERS, content_type="application/x-ndjson"
    )

    assert all_or_nothing.status_code == 200 and all_or_nothing.json["imported"] == 0, all_or_nothing.json
    assert line_by_line.status_code == 200, line_by_line.json
    assert line_by_line.json["imported"] == 2
    rejected = {r["line"]: r["reason"] for r in line_by_line.json["rejected"]}
    assert sorted(rejected) == [2, 4]
    assert "names ballots_in_box" in rejected[2] and "ng_ec8a@1" in rejected[2]
    assert "zz_none" in rejected[4]
    stored = {e["id"]: e for e in entries_of(datasets_client, name)}
    assert sorted(stored) == ["acta-1", "ec8a-1", "seed"]
    assert stored["ec8a-1"]["form_type"] == "ng_ec8a@1" and stored["acta-1"]["form_type"] == "bo_acta@1"
    assert stored["ec8a-1"]["source"]["kind"] == "import" and len(stored["ec8a-1"]["checks"]) == 5


def test_an_export_imports_back_with_the_same_types_and_checks(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    sent = [entry(image_b64, PAPERS[t], id=f"e-{t}") for t in sorted(PAPERS)]
    assert datasets_client.post(f"/{name}/v1/entries", json={"entries": sent}, headers=HEADERS).status_code == 201
    exported = datasets_client.get(f"/{name}/v1/export?format=jsonl", headers=HEADERS).get_data(as_text=True)
    copy = new_draft(datasets_client, "ft")

    imported = datasets_client.post(
        f"/{copy}/v1/import", data=exported, headers=HEADERS, content_type="application/x-ndjson"
    )

    assert imported.status_code == 200, imported.json
    assert imported.json["imported"] == 4 and imported.json["rejected"] == []
    before = {e["id"]: (e["form_type"], e["checks"]) for e in entries_of(datasets_client, name)}
    after = {e["id"]: (e["form_type"], e["checks"]) for e in entries_of(datasets_client, copy)}
    assert after == before


def test_a_csv_import_checks_each_line_too(datasets_client, image_b64):
    name = new_draft(datasets_client, "ft")
    assert (
        datasets_client.post(
            f"/{name}/v1/entries", json=entry(image_b64, PAPERS["generic"], id="seed"), headers=HEADERS
        ).status_code
        == 201
    )
    uri = entries_of(datasets_client, name)[0]["input"]["image_uri"]
    wrong = json.loads(json.dumps(PAPERS["ke_34a"]))
    wrong["statistics"]["blank_votes"] = 2
    buffer = io.StringIO()
    buffer.write("id,image_uri,expected_output\n")
    for entry_id, expected in (("k-1", PAPERS["ke_34a"]), ("k-2", wrong)):
        buffer.write(f'{entry_id},{uri},"{json.dumps(expected).replace(chr(34), chr(34) * 2)}"\n')

    response = datasets_client.post(
        f"/{name}/v1/import", data=buffer.getvalue(), headers=HEADERS, content_type="text/csv"
    )

    assert response.status_code == 200 and response.json["imported"] == 1, response.json
    [(line, reason)] = [(r["line"], r["reason"]) for r in response.json["rejected"]]
    assert line == 3 and "names blank_votes" in reason and "ke_34a@1" in reason
