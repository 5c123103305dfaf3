"""Schedules under /experiments/schedules, and the Cloud Scheduler trigger `experiments-scheduled`.

The trigger's OIDC check is exercised with real RS256 tokens verified by google-auth against a
local certificate endpoint standing in for https://www.googleapis.com/oauth2/v1/certs (Google
cannot be reached from here; in production the same code reads Google's certificates).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from shared.storage.clients import firestore_client
from shared.synthetic.forms import generate_form
from tests.integration.builders import HEADERS, published_dataset
from tests.openapi_contract import assert_matches_contract

SCHEDULER_ACCOUNT = "scheduler@vote-extractor-local.iam.gserviceaccount.com"
AUDIENCE = "https://experiments-scheduled.example.run.app"
SLOT_TIME = "X-CloudScheduler-ScheduleTime"


@pytest.fixture
def shards_topic(local_stack, configure):
    """A fresh shards topic (nothing consumes it: these tests look at what was started)."""
    from google.cloud import pubsub_v1

    topic = f"shards-{uuid.uuid4().hex[:8]}"
    publisher = pubsub_v1.PublisherClient()
    publisher.create_topic(name=publisher.topic_path(local_stack.project, topic))
    configure(SHARDS_TOPIC=topic)
    return topic


@pytest.fixture
def dataset(datasets_client):
    name, _ = published_dataset(datasets_client, [generate_form(700 + i) for i in range(3)])
    return name


def schedule_body(dataset_name: str, schedule_id: str | None = None, /, **changes) -> dict:
    body = {
        "schedule_id": schedule_id or f"nightly-{uuid.uuid4().hex[:6]}",
        "interval_minutes": 60,
        "dataset": {"name": dataset_name, "version": "latest"},
        "variants": [{"name": "ocr", "model": "tesseract"}],
        "evaluators": ["vote_count_accuracy"],
    }
    return body | changes


def test_schedules_are_created_listed_disabled_and_enabled(clean_firestore, experiments_client, dataset):
    body = schedule_body(dataset, "hourly-check", description="every hour against the newest version")
    created = experiments_client.post("/schedules", json=body, headers=HEADERS)
    assert created.status_code == 201, created.json
    assert_matches_contract("/experiments/schedules", "POST", 201, created.json)
    assert created.json["enabled"] is True and created.json["baseline"] == {"policy": "previous", "experiment_id": None}
    assert experiments_client.post("/schedules", json=body, headers=HEADERS).status_code == 409

    listed = experiments_client.get("/schedules", headers=HEADERS)
    assert listed.status_code == 200 and [s["schedule_id"] for s in listed.json["items"]] == ["hourly-check"]
    assert_matches_contract("/experiments/schedules", "GET", 200, listed.json)

    disabled = experiments_client.post("/schedules/hourly-check/disable", headers=HEADERS)
    assert disabled.status_code == 200 and disabled.json["enabled"] is False
    assert experiments_client.get("/schedules/hourly-check", headers=HEADERS).json["enabled"] is False
    enabled = experiments_client.post("/schedules/hourly-check/enable", headers=HEADERS)
    assert enabled.status_code == 200 and enabled.json["enabled"] is True


@pytest.mark.parametrize(
    "change, status",
    [
        ({"interval_minutes": 0}, 422),
        ({"interval_minutes": "60"}, 422),
        ({"schedule_id": "../etc"}, 422),
        ({"schedule_id": "bad\nid"}, 422),
        ({"dataset": {"name": "no_such_dataset", "version": "latest"}}, 404),
        ({"dataset": {"name": "DATASET", "version": "v9"}}, 404),
        ({"variants": []}, 422),
        ({"variants": [{"name": "x", "model": "no-such-model"}]}, 422),
        ({"evaluators": ["no_such_evaluator"]}, 422),
        ({"baseline": {"policy": "pinned"}}, 422),
        ({"baseline": {"policy": "pinned", "experiment_id": "missing"}}, 404),
        ({"thresholds": {"min_quality": 2}}, 422),
        ({"thresholds": {"min_quality": 0.9, "quality_metric": "vote_count_acuracy"}}, 422),
        ({"thresholds": {"regression": "no"}}, 422),
        ({"baseline": {"policy": "pinned", "experiment_id": "a/b"}}, 422),
        ({"baseline": {"policy": "pinned", "experiment_id": "__x__"}}, 422),
        ({"dataset": {"name": "a/b"}}, 422),
        ({"dataset": {"name": "../etc", "version": "v1"}}, 422),
        ({"variants": [{"name": "ocr", "model": "tesseract"}, {"name": "ocr", "model": "tesseract"}]}, 422),
        ({"surprise": True}, 422),
    ],
)
def test_bad_schedules_are_refused_and_nothing_is_stored(clean_firestore, experiments_client, dataset, change, status):
    if change.get("dataset", {}).get("name") == "DATASET":
        change = {"dataset": {"name": dataset, "version": "v9"}}
    answered = experiments_client.post("/schedules", json=schedule_body(dataset, **change), headers=HEADERS)
    assert answered.status_code == status, answered.json
    assert set(answered.json["error"]) == {"code", "message", "details"}
    assert list(firestore_client().collection("experiment_schedules").stream()) == []


def test_bad_requests_around_schedules_and_alerts_get_clear_4xx(experiments_client):
    nested = "[" * 100_000 + "]" * 100_000
    deep = experiments_client.post("/schedules", data=nested, headers=HEADERS, content_type="application/json")
    assert deep.status_code == 400 and deep.json["error"]["code"] == "malformed_request"
    huge = experiments_client.post(
        "/schedules", data="{" + " " * (2 * 1024 * 1024) + "}", headers=HEADERS, content_type="application/json"
    )
    assert huge.status_code == 413
    for query in ("limit=%C2%B2", "limit=0", "limit=x", "schedule_id=a&experiment_id=b"):
        answered = experiments_client.get(f"/alerts?{query}", headers=HEADERS)
        assert answered.status_code == 422, (query, answered.json)
    assert experiments_client.get("/abc/results?page_size=%C2%B2", headers=HEADERS).status_code == 422
    wrong_method = experiments_client.post("/alerts", headers=HEADERS)
    assert wrong_method.status_code == 405 and wrong_method.json["error"]["message"].endswith("use GET.")
    started = experiments_client.post(
        "/",
        json={
            "name": "x",
            "dataset": {"name": "d", "version": "v1"},
            "variants": [{"name": "a", "model": "tesseract"}],
            "baseline_experiment_id": "a/b",
        },
        headers=HEADERS,
    )
    assert started.status_code == 422, started.json


def test_unknown_and_hostile_schedule_ids_are_404(experiments_client):
    for path in ("/schedules/missing", "/schedules/..%2F..%2Fetc", "/schedules/a%00b/enable"):
        method = experiments_client.post if path.endswith("enable") else experiments_client.get
        answered = method(path, headers=HEADERS)
        assert answered.status_code == 404, (path, answered.json)


def test_two_triggers_in_one_slot_start_each_due_schedule_once(
    clean_firestore, experiments_client, scheduled_client, dataset, shards_topic
):
    for schedule_id in ("hourly-a", "hourly-b", "paused"):
        created = experiments_client.post("/schedules", json=schedule_body(dataset, schedule_id), headers=HEADERS)
        assert created.status_code == 201, created.json
    experiments_client.post("/schedules/paused/disable", headers=HEADERS)
    stamp = {SLOT_TIME: dt.datetime.now(dt.UTC).replace(minute=5, second=0, microsecond=0).isoformat()}

    first = scheduled_client.post("/", headers=HEADERS | stamp)
    again = scheduled_client.post("/", headers=HEADERS | stamp)  # Cloud Scheduler's retry, or a double send

    assert first.status_code == 200 and again.status_code == 200, (first.json, again.json)
    assert sorted(item["schedule_id"] for item in first.json["started"]) == ["hourly-a", "hourly-b"]
    assert again.json["started"] == []
    assert sorted(item["schedule_id"] for item in again.json["already_started"]) == ["hourly-a", "hourly-b"]
    started_ids = sorted(item["experiment_id"] for item in first.json["started"])
    stored = sorted(
        s.id for s in firestore_client().collection("experiments").stream() if s.get("schedule_id") is not None
    )
    assert stored == started_ids
    for experiment_id in started_ids:
        experiment = experiments_client.get(f"/{experiment_id}", headers=HEADERS).json
        assert experiment["shards"]["total"] == 1 and experiment["dataset"] == {"name": dataset, "version": "v1"}
    schedule = experiments_client.get("/schedules/hourly-a", headers=HEADERS).json
    assert schedule["last_experiment_id"] in started_ids and schedule["last_error"] is None

    next_slot = {SLOT_TIME: (dt.datetime.fromisoformat(stamp[SLOT_TIME]) + dt.timedelta(hours=1)).isoformat()}
    later = scheduled_client.post("/", headers=HEADERS | next_slot)
    assert sorted(item["schedule_id"] for item in later.json["started"]) == ["hourly-a", "hourly-b"]
    assert not set(item["experiment_id"] for item in later.json["started"]) & set(started_ids)
    newest = experiments_client.get("/schedules/hourly-a", headers=HEADERS).json

    # A late trigger of an older slot starts that slot, but the schedule keeps its newest run as
    # the baseline of the next one.
    older = {SLOT_TIME: (dt.datetime.fromisoformat(stamp[SLOT_TIME]) - dt.timedelta(hours=3)).isoformat()}
    assert len(scheduled_client.post("/", headers=HEADERS | older).json["started"]) == 2
    after = experiments_client.get("/schedules/hourly-a", headers=HEADERS).json
    assert (after["last_slot"], after["last_experiment_id"]) == (newest["last_slot"], newest["last_experiment_id"])


def test_a_broken_schedule_is_reported_and_the_others_still_start(
    clean_firestore, experiments_client, scheduled_client, datasets_client, dataset, shards_topic
):
    other, _ = published_dataset(datasets_client, [generate_form(760)])
    for name, schedule_id in ((dataset, "fine"), (other, "doomed")):
        created = experiments_client.post("/schedules", json=schedule_body(name, schedule_id), headers=HEADERS)
        assert created.status_code == 201
    firestore_client().collection("datasets").document(other).collection("versions").document("v1").delete()

    answered = scheduled_client.post("/", headers=HEADERS)

    assert answered.status_code == 200
    assert [item["schedule_id"] for item in answered.json["started"]] == ["fine"]
    [error] = answered.json["errors"]
    assert error["schedule_id"] == "doomed" and error["error"]["code"] == "not_found"
    assert "no published version" in experiments_client.get("/schedules/doomed", headers=HEADERS).json["last_error"]


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        ({"X-API-Key": "wrong"}, 401),
        ({"Authorization": "Bearer not-a-jwt"}, 403),  # no audience configured here: no token is accepted
        ({SLOT_TIME: "yesterday-ish", "X-API-Key": "KEY"}, 400),
        ({SLOT_TIME: "2001-01-01T00:00:00Z", "X-API-Key": "KEY"}, 422),
    ],
)
def test_bad_triggers_are_refused(scheduled_client, headers, status):
    headers = {name: HEADERS["X-API-Key"] if value == "KEY" else value for name, value in headers.items()}
    answered = scheduled_client.post("/", headers=headers)
    assert answered.status_code == status, answered.json
    assert set(answered.json["error"]) == {"code", "message", "details"}


class _Certificates:
    """An RSA key, its certificate served as Google serves its token-signing certificates."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-signer")])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        body = json.dumps({"kid-1": certificate.public_bytes(serialization.Encoding.PEM).decode()}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/v1/certs"

    def token(self, **claims: object) -> str:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        signer = crypt.RSASigner.from_string(pem, key_id="kid-1")
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "email": SCHEDULER_ACCOUNT,
            "email_verified": True,
            "iat": now,
            "exp": now + 600,
            "sub": "1234567890",
        } | claims
        return jwt.encode(signer, payload).decode()


@pytest.fixture
def google_certificates(configure):
    certificates = _Certificates()
    configure(
        OIDC_CERTS_URL=certificates.url,
        SCHEDULER_AUDIENCE=AUDIENCE,
        SCHEDULER_SERVICE_ACCOUNT=SCHEDULER_ACCOUNT,
        ENVIRONMENT="production",
        # Production takes named keys only (sha256 digests); the key itself stays refused below.
        API_KEYS=json.dumps({"ops": {"sha256": hashlib.sha256(b"a-production-key").hexdigest(), "scopes": ["admin"]}}),
    )
    yield certificates
    certificates.server.shutdown()


def test_the_scheduler_s_oidc_token_is_verified(clean_firestore, scheduled_client, google_certificates):
    def bearer(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    accepted = scheduled_client.post("/", headers=bearer(google_certificates.token()))
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["started"] == [] and "resent" in accepted.json

    refusals = {
        "wrong audience": (google_certificates.token(aud="https://elsewhere.example"), 401),
        "expired": (google_certificates.token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), 401),
        "not Google": (google_certificates.token(iss="https://evil.example"), 401),
        "another account": (google_certificates.token(email="intruder@example.iam.gserviceaccount.com"), 403),
        "unverified e-mail": (google_certificates.token(email_verified=False), 403),
        "tampered": (google_certificates.token()[:-4] + "AAAA", 401),
    }
    for why, (token, status) in refusals.items():
        answered = scheduled_client.post("/", headers=bearer(token))
        assert answered.status_code == status, (why, answered.json)
    # In production the API key alone does not trigger schedules.
    assert scheduled_client.post("/", headers={"X-API-Key": "a-production-key"}).status_code == 401


def test_a_private_deployment_checks_the_claims_cloud_run_passes_on(
    clean_firestore, scheduled_client, google_certificates, configure
):
    # Cloud Run verified the signature, then replaced it before the request reached the function.
    configure(SCHEDULER_TOKEN_CHECKED_BY_CLOUD_RUN="true", OIDC_CERTS_URL="http://127.0.0.1:9/unreachable")

    def as_passed_on(token: str) -> dict:
        header, payload, _ = token.split(".")
        return {"Authorization": f"Bearer {header}.{payload}.SIGNATURE_REMOVED_BY_GOOGLE"}

    accepted = scheduled_client.post("/", headers=as_passed_on(google_certificates.token()))
    assert accepted.status_code == 200, accepted.json
    refusals = {
        "wrong audience": (google_certificates.token(aud="https://elsewhere.example"), 401),
        "expired": (google_certificates.token(exp=int(time.time()) - 3600), 401),
        "not Google": (google_certificates.token(iss="https://evil.example"), 401),
        "another account": (google_certificates.token(email="intruder@example.iam.gserviceaccount.com"), 403),
    }
    for why, (token, status) in refusals.items():
        answered = scheduled_client.post("/", headers=as_passed_on(token))
        assert answered.status_code == status, (why, answered.json)
    garbled = scheduled_client.post("/", headers={"Authorization": "Bearer only-one-part"})
    assert garbled.status_code == 401


def test_a_schedule_is_patched_as_it_is_created_and_deleted_once(experiments_client, dataset):
    schedule_id = f"patch-{uuid.uuid4().hex[:6]}"
    assert (
        experiments_client.post("/schedules", json=schedule_body(dataset, schedule_id), headers=HEADERS).status_code
        == 201
    )

    patched = experiments_client.patch(
        f"/schedules/{schedule_id}",
        json={"interval_minutes": 30, "enabled": False, "thresholds": {"min_quality": 0.8}},
        headers=HEADERS,
    )
    too_often = experiments_client.patch(f"/schedules/{schedule_id}", json={"interval_minutes": 1}, headers=HEADERS)
    unknown_model = experiments_client.patch(
        f"/schedules/{schedule_id}", json={"variants": [{"name": "x", "model": "no-such-model"}]}, headers=HEADERS
    )
    renamed = experiments_client.patch(f"/schedules/{schedule_id}", json={"schedule_id": "other"}, headers=HEADERS)
    unmeasured = experiments_client.patch(
        f"/schedules/{schedule_id}", json={"evaluators": ["schema_valid"]}, headers=HEADERS
    )

    assert patched.status_code == 200, patched.json
    assert patched.json["interval_minutes"] == 30 and patched.json["enabled"] is False
    assert patched.json["thresholds"]["min_quality"] == 0.8
    assert patched.json["variants"] == [
        {"name": "ocr", "model": "tesseract", "prompt_version": "prompt_a", "params": {}, "form_type": None}
    ]
    for refused in (too_often, unknown_model, renamed, unmeasured):
        assert refused.status_code == 422, refused.json
    stored = experiments_client.get(f"/schedules/{schedule_id}", headers=HEADERS).json
    assert stored["interval_minutes"] == 30  # the refused changes stored nothing

    assert experiments_client.delete(f"/schedules/{schedule_id}", headers=HEADERS).status_code == 204
    assert experiments_client.delete(f"/schedules/{schedule_id}", headers=HEADERS).status_code == 404
    assert experiments_client.get(f"/schedules/{schedule_id}", headers=HEADERS).status_code == 404
    assert experiments_client.patch("/schedules/nope", json={"enabled": True}, headers=HEADERS).status_code == 404
    assert experiments_client.delete("/schedules/..%2Fetc", headers=HEADERS).status_code == 404
