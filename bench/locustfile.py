"""Locust users of the mixed load (bench/load_mixed.py runs them; see its docstring).

Each user is someone using the whole API: extracts forms (on the Gemini stand-in or the offline
model), reads and lists extractions, gives feedback (and replays some), claims review items and
decides them, and writes dataset entries. Every write carries an id the client chose (or learns
from its answer) and is written to the ledger twice: `try` before it is sent, `ack` once a 2xx (or,
for an entry sent again, the 409 that says it is stored) came back. A write whose connection broke
(the gateway was killed) is sent again with the same ids until acknowledged or
LOAD_RETRY_DEADLINE_S passes; the reconciliation then counts what Firestore and the test agent hold
against the ledger.

Configuration (environment): LOAD_LEDGER (JSON lines file), LOAD_SEED (JSON from load_mixed),
LOAD_STEPS (users per step, e.g. 4,8,16,32,64), LOAD_STEP_SECONDS, LOAD_API_KEY,
LOAD_RETRY_DEADLINE_S.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
import uuid
from typing import Any

from locust import FastHttpUser, LoadTestShape, between, events, task

from shared.synthetic import generate_form

API_KEY = os.environ.get("LOAD_API_KEY", "local-dev-key")
STEPS = [int(users) for users in os.environ.get("LOAD_STEPS", "4,8,16,32,64").split(",")]
STEP_SECONDS = float(os.environ.get("LOAD_STEP_SECONDS", "30"))
RETRY_DEADLINE_S = float(os.environ.get("LOAD_RETRY_DEADLINE_S", "120"))
SEED: dict[str, Any] = json.loads(open(os.environ["LOAD_SEED"]).read()) if os.environ.get("LOAD_SEED") else {}
_LEDGER = open(os.environ.get("LOAD_LEDGER", os.devnull), "a", buffering=1)  # noqa: SIM115 - open for the run

FORMS = [base64.b64encode(generate_form(7000 + seed).image).decode() for seed in range(6)]
# Extractions any user may rate or read: the seed's, then every one a user made (newest kept).
EXTRACTIONS: list[dict[str, str]] = list(SEED.get("extractions", []))
MAX_SHARED = 400
EXPECTED = {
    "form": {"constituency_name": "Kibera", "constituency_code": "288", "form_type": None},
    "vote_results": [
        {"candidate_name": "Amina Wanjiru", "party": "Green Alliance", "vote_count": 4521},
        {"candidate_name": "John Otieno", "party": "People's Union", "vote_count": 3307},
    ],
    "ballot_stats": {"valid_votes": 7828, "rejected_ballots": 37, "total_ballots": 7865},
}
step_users = STEPS[0]  # the step now running, stamped on every request


def record(kind: str, **fields: Any) -> None:
    _LEDGER.write(json.dumps({"k": kind, **fields}) + "\n")


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response: Any, exception: Any, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    record("req", name=name, ms=round(response_time, 1), st=status, users=step_users, t=round(time.time(), 3))


class SteppedUsers(LoadTestShape):
    """LOAD_STEPS users, each for LOAD_STEP_SECONDS, all started at once at each step."""

    def tick(self) -> tuple[int, float] | None:
        global step_users
        index = int(self.get_run_time() // STEP_SECONDS)
        if index >= len(STEPS):
            return None
        step_users = STEPS[index]
        return STEPS[index], float(STEPS[index])


class MixedUser(FastHttpUser):
    wait_time = between(0.2, 0.8)
    network_timeout = 180.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.headers = {"X-API-Key": API_KEY}
        self.reviewer = f"reviewer-{uuid.uuid4().hex[:10]}"
        self.my_feedback: list[dict[str, Any]] = []
        self.my_entries: list[tuple[str, str, dict[str, Any]]] = []
        self.attempts = 0  # sends of the last write (more than 1: an answer was lost)
        self.replayed = False  # the last write's answer said an earlier send had made it

    # -- the one way a write is sent ---------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        name: str,
        body: Any,
        *,
        ok: tuple[int, ...],
        retry: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, JSON body or None). Connection failures and 5xx are retried with the same
        body while `retry` (the write is idempotent) until RETRY_DEADLINE_S; status 0 if never answered."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        self.attempts = 0
        while True:
            self.attempts += 1
            with self.client.request(
                method, path, name=name, json=body, headers={**self.headers, **(headers or {})}, catch_response=True
            ) as response:
                status = response.status_code or 0
                # No headers when no answer came (a refused or reset connection).
                self.replayed = (response.headers or {}).get("Idempotent-Replayed") == "true"
                if status in ok:
                    response.success()
                else:
                    response.failure(f"{status}: {(response.text or '')[:200]}")
            if status in ok or (0 < status < 500):
                payload = None
                if status not in (204,) and response.text:
                    try:
                        payload = json.loads(response.text)
                    except ValueError:
                        payload = None
                return status, payload
            if not retry or time.monotonic() > deadline:
                return status, None
            time.sleep(0.5)

    # -- extract ------------------------------------------------------------------------------

    def extract(self, model: str | None, name: str) -> None:
        body: dict[str, Any] = {"image_base64": random.choice(FORMS)}
        if model:
            body["model"] = model
        key = uuid.uuid4().hex  # a lost answer is sent again under it: one record, whatever happened
        record("try", what="extraction", id=None, key=key)
        status, answer = self.send("POST", "/extract", name, body, ok=(200,), headers={"Idempotency-Key": key})
        if status == 200 and answer:
            extraction = {key: answer[key] for key in ("extraction_id", "span_id", "trace_id", "image_uri")}
            record("ack", what="extraction", id=answer["extraction_id"], model=answer["model"], key=key,
                   resent=self.attempts > 1, replayed=self.replayed,
                   evaluations=len(answer.get("evaluations") or []))  # fmt: skip
            EXTRACTIONS.append(extraction)
            del EXTRACTIONS[:-MAX_SHARED]

    @task(2)
    def extract_gemini(self) -> None:
        self.extract(None, "POST /extract (gemini stand-in)")

    @task(1)
    def extract_offline(self) -> None:
        self.extract("tesseract", "POST /extract (tesseract)")

    # -- feedback -----------------------------------------------------------------------------

    @task(10)
    def feedback(self) -> None:
        if self.my_feedback and random.random() < 0.25:
            body = random.choice(self.my_feedback)  # a replay: same id, same body
            replay = True
        else:
            extraction = random.choice(EXTRACTIONS)
            body = {
                "span_id": extraction["span_id"],
                "trace_id": extraction["trace_id"],
                "feedback_type": random.choice(("thumbs_up", "thumbs_down")),
                "quality_score": random.randint(1, 5),
                "comment": "load test",
                "feedback_id": f"fb-{uuid.uuid4().hex}",
            }
            if random.random() < 0.1:
                body["corrections"] = {"ballot_stats": {"rejected_ballots": random.randint(0, 99)}}
            replay = False
        record("try", what="feedback", id=body["feedback_id"])
        status, answer = self.send("POST", "/feedback", "POST /feedback", body, ok=(200, 201))
        if status in (200, 201):
            record("ack", what="feedback", id=body["feedback_id"], status=status, replay=replay)
            if not replay:
                self.my_feedback.append(body)
            elif status != 200:
                record("anomaly", what="feedback replay answered 201", id=body["feedback_id"])

    @task(2)
    def list_feedback(self) -> None:
        extraction = random.choice(EXTRACTIONS)
        self.send("GET", f"/feedback?extraction_id={extraction['extraction_id']}", "GET /feedback", None, ok=(200,))

    # -- reads --------------------------------------------------------------------------------

    @task(6)
    def read_extraction(self) -> None:
        extraction = random.choice(EXTRACTIONS)
        self.send("GET", f"/extract/{extraction['extraction_id']}", "GET /extract/{id}", None, ok=(200,), retry=False)

    @task(4)
    def list_extractions(self) -> None:
        query = random.choice(("", "&feedback=thumbs_down", "&model=tesseract"))
        self.send("GET", f"/extract?page_size=20{query}", "GET /extract", None, ok=(200,), retry=False)

    @task(2)
    def read_dataset(self) -> None:
        name, version = random.choice(SEED["entry_versions"])
        path = f"/datasets/{name}/{version}?page_size=20"
        self.send("GET", path, "GET /datasets/{name}/{version}", None, ok=(200,), retry=False)

    # -- review -------------------------------------------------------------------------------

    @task(3)
    def review(self) -> None:
        record("try", what="claim", id=None)
        status, answer = self.send(
            "POST", "/datasets/review/claim", "POST /datasets/review/claim", {"reviewer": self.reviewer}, ok=(200, 204)
        )
        if status != 200 or not answer:
            return
        extraction_id = answer["item"]["extraction_id"]
        record("ack", what="claim", id=extraction_id, by=self.reviewer)
        decision = random.choices(("approve", "reject", "skip"), weights=(4, 4, 2))[0]
        body: dict[str, Any] = {"reviewer": self.reviewer, "decision": decision, "note": "load test"}
        if decision == "approve":
            name, version = SEED["review_target"]
            body["target"] = {"name": name, "version": version}
        path = f"/datasets/review/{extraction_id}/decision"
        # Some final decisions are sent twice: the same decision again is answered 200. A skip
        # releases the claim, so a skip sent again after a lost answer is refused (409): released.
        twice = decision != "skip" and random.random() < 0.15
        for sending in range(2 if twice else 1):
            record("try", what="decision", id=extraction_id, decision=decision)
            status, _ = self.send("POST", path, "POST /datasets/review/{id}/decision", body, ok=(200,))
            if status == 200 or (status == 409 and decision == "skip" and self.attempts > 1):
                record("ack", what="decision", id=extraction_id, decision=decision, by=self.reviewer, replay=sending)
            elif status == 409:
                record("anomaly", what="decision refused: the claim was not held", id=extraction_id, replay=sending)

    # -- dataset entries ----------------------------------------------------------------------

    @task(5)
    def dataset_entry(self) -> None:
        if self.my_entries and random.random() < 0.15:
            name, version, body = random.choice(self.my_entries)
            replay = True
        else:
            name, version = random.choice(SEED["entry_versions"])
            image_uri = random.choice(EXTRACTIONS)["image_uri"]
            body = {
                "id": f"e-{uuid.uuid4().hex}",
                "input": {"image_uri": image_uri, "metadata": {"source": "load"}},
                "expected_output": EXPECTED,
                "tags": {"load": "mixed"},
            }
            replay = False
        record("try", what="entry", id=body["id"], ds=f"{name}@{version}")
        path = f"/datasets/{name}/{version}/entries"
        # Sent again (a replay, or a retry whose first answer was lost), 409 says it is there.
        status, _ = self.send("POST", path, "POST /datasets/{name}/{version}/entries", body, ok=(201, 409))
        if status in (201, 409):
            record("ack", what="entry", id=body["id"], ds=f"{name}@{version}", status=status, replay=replay)
        if status == 201 and not replay:
            self.my_entries.append((name, version, body))
        if status == 201 and replay:
            record("anomaly", what="entry replay answered 201", id=body["id"])
