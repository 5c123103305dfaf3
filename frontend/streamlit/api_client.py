"""The console's one way to the product: a small typed client of the HTTP API.

The console never touches Firestore or Cloud Storage; it sends what any client sends, with the
API key held here, on the server side (Streamlit runs this code on the server; the browser only
gets rendered pages). Every failure becomes an `ApiError` whose message is the API's own
sentence, or `ApiUnreachable` when no answer came at all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0
# The functions' deployed names: locally the gateway serves them at /<name>; on Google Cloud,
# https://REGION-PROJECT.cloudfunctions.net/<name> serves them the same way.
FUNCTIONS = ("extract", "feedback", "datasets", "experiments")

Json = dict[str, Any]


class ApiError(Exception):
    """The API answered with an error body: `message` is its sentence, ready to show."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class ApiUnreachable(ApiError):
    """No answer: the API is down, the URL is wrong, or the network refused."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(0, "unreachable", f"The API at {base_url} is unreachable ({reason}).")
        self.base_url = base_url


@dataclass(frozen=True)
class ApiSettings:
    base_url: str
    api_key: str
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_environment(cls, secrets: Any = None) -> ApiSettings:
        """`API_BASE_URL` and `API_KEY` from the environment, else from Streamlit secrets."""

        def read(name: str, default: str) -> str:
            value = os.environ.get(name)
            if value:
                return value
            try:
                return str(secrets[name]) if secrets is not None and name in secrets else default
            except Exception:  # no secrets.toml: Streamlit raises rather than answering "absent"
                return default

        timeout = read("API_TIMEOUT_S", str(DEFAULT_TIMEOUT_S))
        return cls(
            base_url=read("API_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
            api_key=read("API_KEY", "local-dev-key"),
            timeout_s=float(timeout),
        )


class ApiClient:
    def __init__(self, settings: ApiSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._session.headers["X-API-Key"] = settings.api_key

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    # --- transport ---------------------------------------------------------------------------

    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> Any:
        """`path` starts with the function's name, e.g. `/datasets/demo/v1`."""
        url = self.base_url + path
        kwargs.setdefault("timeout", self.settings.timeout_s)
        try:
            response = self._session.request(method, url, **kwargs)
        except requests.Timeout:
            raise ApiUnreachable(self.base_url, f"no answer within {self.settings.timeout_s:.0f} s") from None
        except requests.RequestException as error:
            raise ApiUnreachable(self.base_url, _reason(error)) from None
        if response.status_code >= 400:
            raise _error_of(response)
        if response.status_code == 204:
            return None
        if not expect_json:
            return response
        try:
            return response.json()
        except ValueError:
            raise ApiError(
                response.status_code, "not_json", "The API answered with something that is not JSON."
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v not in (None, "")})

    def post(self, path: str, body: Json | None = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body if body is not None else {}, **kwargs)

    def health(self) -> Json:
        """The local gateway's /healthz (every function and emulator); deployed, each function's answer."""
        try:
            response = self._session.get(self.base_url + "/healthz", timeout=5)
        except requests.RequestException as error:
            raise ApiUnreachable(self.base_url, _reason(error)) from None
        if response.status_code in (200, 503) and response.headers.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response.json()
        checks = {}
        for name in FUNCTIONS:  # no gateway (deployed): a function that answers 401 without a key is up
            try:
                answered = requests.get(f"{self.base_url}/{name}", timeout=5).status_code
            except requests.RequestException:
                answered = 0
            checks[name] = answered in (401, 405)
        return {"status": "ok" if all(checks.values()) else "unhealthy", "checks": checks}

    # --- extract and feedback ----------------------------------------------------------------

    def options(self) -> Json:
        return self.get("/extract/options")

    def extract(
        self,
        image: bytes,
        filename: str,
        *,
        content_type: str,
        model: str | None = None,
        prompt_version: str | None = None,
        params: Json | None = None,
        tags: dict[str, str] | None = None,
        form_type: str | None = None,
        reference_docs: str | None = None,
        idempotency_key: str | None = None,
    ) -> Json:
        """`idempotency_key`: the same key on a retry of the same request answers the extraction
        already made (say, when a first try's answer was lost), never a second one."""
        fields: dict[str, str] = {}
        if model:
            fields["model"] = model
        if form_type:
            fields["form_type"] = form_type
        if prompt_version:
            fields["prompt_version"] = prompt_version
        if reference_docs:
            fields["reference_docs"] = reference_docs
        if params:
            fields["params"] = json.dumps(params)
        if tags:
            fields["tags"] = json.dumps(tags)
        # A failed extraction is still an answer (502/504 with the record): show it, not an error.
        try:
            return self.request(
                "POST",
                "/extract",
                files={"image": (filename, image, content_type)},
                data=fields,
                headers={"Idempotency-Key": idempotency_key} if idempotency_key else None,
                timeout=300,
            )
        except ApiError as error:
            if error.status in (502, 504) and isinstance(error.details, dict) and "record" in error.details:
                return error.details["record"]
            raise

    def form_types(self) -> list[Json]:
        """The latest version of every form type the registry holds."""
        return self.get("/extract/form-types")["items"]

    def form_type(self, ref: str) -> Json:
        """One form type, `name` (its latest version) or `name@n`, with its `versions`."""
        return self.get(f"/extract/form-types/{_segment(ref)}")

    def extraction(self, extraction_id: str) -> Json:
        return self.get(f"/extract/{_segment(extraction_id)}")

    def extractions(self, **filters: Any) -> Json:
        return self.get("/extract", **filters)

    def delete_extraction(self, extraction_id: str) -> None:
        self.request("DELETE", f"/extract/{_segment(extraction_id)}")

    def extraction_image(self, extraction_id: str) -> bytes:
        return self.request("GET", f"/extract/{_segment(extraction_id)}/image", expect_json=False).content

    def feedback(self, body: Json) -> Json:
        return self.post("/feedback", body)

    def feedback_for(self, extraction_id: str) -> list[Json]:
        return self.get("/feedback", extraction_id=extraction_id)["items"]

    # --- datasets ----------------------------------------------------------------------------

    def datasets(self) -> list[Json]:
        return self.get("/datasets")["items"]

    def version_labels(self, status: str) -> list[str]:
        """`name@version` of every dataset version with this status (draft or published)."""
        return [f"{d['name']}@{v['version']}" for d in self.datasets() for v in d["versions"] if v["status"] == status]

    def create_dataset(self, name: str, version: str, description: str = "") -> Json:
        return self.post("/datasets", {"name": name, "version": version, "description": description})

    def dataset_version(self, name: str, version: str, *, page_size: int = 20, page_token: str | None = None) -> Json:
        return self.get(f"/datasets/{_segment(name)}/{_segment(version)}", page_size=page_size, page_token=page_token)

    def entry_image(self, name: str, version: str, entry_id: str) -> bytes:
        path = f"/datasets/{_segment(name)}/{_segment(version)}/entries/{_segment(entry_id)}/image"
        return self.request("GET", path, expect_json=False).content

    def update_entry(self, name: str, version: str, entry_id: str, fields: Json) -> Json:
        path = f"/datasets/{_segment(name)}/{_segment(version)}/entries/{_segment(entry_id)}"
        return self.request("PUT", path, json=fields)

    def publish(self, name: str, version: str) -> Json:
        return self.post(f"/datasets/{_segment(name)}/{_segment(version)}/publish")

    def new_version(self, name: str, from_version: str, version: str) -> Json:
        return self.post(f"/datasets/{_segment(name)}/versions", {"from_version": from_version, "version": version})

    def diff(self, name: str, old: str, new: str) -> Json:
        return self.get(f"/datasets/{_segment(name)}/diff", **{"from": old, "to": new})

    def import_entries(self, name: str, version: str, body: bytes, *, csv: bool) -> Json:
        path = f"/datasets/{_segment(name)}/{_segment(version)}/import"
        content_type = "text/csv" if csv else "application/x-ndjson"
        return self.request("POST", path, data=body, headers={"Content-Type": content_type}, timeout=900)

    def export(self, name: str, version: str, fmt: str) -> bytes:
        path = f"/datasets/{_segment(name)}/{_segment(version)}/export"
        return self.request("GET", path, params={"format": fmt}, expect_json=False, timeout=900).content

    def delete_version(self, name: str, version: str) -> None:
        """A draft version and its entries (a published one is 409)."""
        self.request("DELETE", f"/datasets/{_segment(name)}/versions/{_segment(version)}")

    def delete_dataset(self, name: str) -> None:
        """A dataset with its drafts (one with a published version is 409)."""
        self.request("DELETE", f"/datasets/{_segment(name)}")

    def from_trace(self, name: str, version: str, span_id: str, trace_id: str) -> Json:
        path = f"/datasets/{_segment(name)}/{_segment(version)}/from-trace"
        return self.post(path, {"span_id": span_id, "trace_id": trace_id})

    # --- review queue ------------------------------------------------------------------------

    def review_queue(self, **filters: Any) -> Json:
        return self.get("/datasets/review/queue", **filters)

    def claim(self, reviewer: str, *, reason: str | None = None, extraction_id: str | None = None) -> Json | None:
        body: Json = {"reviewer": reviewer}
        if reason:
            body["reason"] = reason
        if extraction_id:
            body["extraction_id"] = extraction_id
        return self.post("/datasets/review/claim", body)

    def decide(self, extraction_id: str, body: Json) -> Json:
        return self.post(f"/datasets/review/{_segment(extraction_id)}/decision", body)

    def agreement(self) -> Json:
        return self.get("/datasets/review/agreement")

    def production_accuracy(self, **query: Any) -> Json:
        """`since`, `until`, `form_type`, `by=week`: GET /datasets/review/accuracy (PPI++, 95%)."""
        return self.get("/datasets/review/accuracy", **query)

    # --- experiments -------------------------------------------------------------------------

    def experiments(self, **filters: Any) -> Json:
        return self.get("/experiments", **filters)

    def start_experiment(self, body: Json) -> Json:
        return self.post("/experiments", body)

    def experiment(self, experiment_id: str) -> Json:
        return self.get(f"/experiments/{_segment(experiment_id)}")

    def compare(self, experiment_id: str, a: str, b: str) -> Json:
        return self.get(f"/experiments/{_segment(experiment_id)}/compare", a=a, b=b)

    def report(self, experiment_id: str) -> str:
        return self.request("GET", f"/experiments/{_segment(experiment_id)}/report", expect_json=False).text

    def experiment_export(self, experiment_id: str, fmt: str) -> bytes:
        """The runs with their evaluations as CSV or JSONL (`fmt`), the file's bytes."""
        path = f"/experiments/{_segment(experiment_id)}/export"
        return self.request("GET", path, params={"format": fmt}, expect_json=False, timeout=900).content

    def schedules(self) -> list[Json]:
        return self.get("/experiments/schedules")["items"]

    def create_schedule(self, body: Json) -> Json:
        return self.post("/experiments/schedules", body)

    def set_schedule_enabled(self, schedule_id: str, enabled: bool) -> Json:
        action = "enable" if enabled else "disable"
        return self.post(f"/experiments/schedules/{_segment(schedule_id)}/{action}")

    def delete_schedule(self, schedule_id: str) -> None:
        self.request("DELETE", f"/experiments/schedules/{_segment(schedule_id)}")

    def alerts(self, limit: int = 20) -> list[Json]:
        return self.get("/experiments/alerts", limit=limit)["items"]

    # --- prompts (versions are immutable; labels move) ----------------------------------------

    def prompts(self) -> list[Json]:
        return self.get("/experiments/prompts")["items"]

    def prompt(self, name: str) -> Json:
        return self.get(f"/experiments/prompts/{_segment(name)}")

    def prompt_version(self, name: str, version: str) -> Json:
        return self.get(f"/experiments/prompts/{_segment(name)}/{_segment(version)}")

    def prompt_diff(self, name: str, old: str, new: str) -> Json:
        return self.get(f"/experiments/prompts/{_segment(name)}/diff", **{"from": old, "to": new})

    def create_prompt_version(self, body: Json) -> Json:
        return self.post("/experiments/prompts", body)

    def move_prompt_label(self, name: str, label: str, version: int) -> Json:
        return self.post(f"/experiments/prompts/{_segment(name)}/labels", {"label": label, "version": version})

    # --- stored judges (versions are immutable; labels move; an alignment makes a new version) --

    def judges(self) -> list[Json]:
        return self.get("/experiments/judges")["items"]

    def judge(self, name: str) -> Json:
        return self.get(f"/experiments/judges/{_segment(name)}")

    def align_judge(self, name: str, body: Json) -> Json:
        return self.post(f"/experiments/judges/{_segment(name)}/align", body)


def _segment(value: str) -> str:
    """A path segment, percent-encoded (a hostile id cannot change the path)."""
    return requests.utils.quote(str(value), safe="")


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.ConnectionError):
        return "connection refused or no route"
    return type(error).__name__


def _error_of(response: requests.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "extraction_id" in body:  # a failed extraction: its record is the answer
        message = str(body.get("error") or "The model failed.")
        return ApiError(response.status_code, str(body.get("error_code") or "model_error"), message, {"record": body})
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "message" in error:
        return ApiError(response.status_code, str(error.get("code")), str(error["message"]), error.get("details"))
    return ApiError(response.status_code, "http_error", f"The API answered {response.status_code} {response.reason}.")
