"""One settings object for every function. Each variable is documented here, once.

Read from the environment at cold start and cached (`get_settings`). The README's
configuration table is generated from these descriptions (`python -m shared.config`).
Variables that Google's and Datadog's libraries read themselves are listed in
`PASSTHROUGH_VARIABLES` so they are documented in the same place.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.api_keys import ApiKey, find_key, parse_api_keys

LOCAL_API_KEY = "local-dev-key"

PASSTHROUGH_VARIABLES: dict[str, str] = {
    "FIRESTORE_EMULATOR_HOST": "host:port of the Firestore emulator (local only; read by google-cloud-firestore).",
    "STORAGE_EMULATOR_HOST": "URL of the Cloud Storage emulator (local only; read by google-cloud-storage).",
    "PUBSUB_EMULATOR_HOST": "host:port of the Pub/Sub emulator (local only).",
    "DD_LLMOBS_AGENTLESS_ENABLED": "1 in production (no agent beside a Cloud Function); unset locally.",
    "DD_TRACE_AGENT_URL": "Agent (locally: Datadog's test agent) that receives LLM Observability payloads.",
    "DD_APM_TRACING_ENABLED": "false: send LLM Observability data only, no APM traces.",
    "DD_SERVICE": "Datadog service name of a deployed function (vote-extractor-<function>).",
    "DD_ENV": "Datadog environment tag (production when deployed).",
    "DD_LLMOBS_ML_APP": "ml_app ddtrace reads itself; the deploy sets it equal to ML_APP.",
    "RAGAS_DO_NOT_TRACK": "true: Ragas sends no usage analytics (set on the functions that carry Ragas).",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    environment: Literal["local", "production"] = Field(
        "local", description="`production` refuses the local API key and requires real credentials."
    )
    gcp_project: str = Field(
        "vote-extractor-local", description="Google Cloud project id for Firestore and Cloud Storage."
    )
    api_keys: str = Field(
        LOCAL_API_KEY,
        description="Named API keys accepted in `X-API-Key`: a JSON object name -> "
        '`{"sha256": hex digest of the key, "scopes": [...], "delegates": false}` (see API keys and scopes); '
        "locally also a comma-separated list of plain keys, each `admin` (production: from Secret Manager, JSON "
        "only).",
    )
    images_bucket: str = Field(
        "vote-extractor-images", description="Cloud Storage bucket for form images (content-addressed by sha256)."
    )
    firestore_database: str = Field("(default)", description="Firestore database id.")
    default_model: str = Field(
        "",
        description="Model used when a request names none; empty means gemini-2.5-flash when Gemini "
        "is configured, otherwise tesseract.",
    )
    default_prompt_version: str = Field(
        "prompt_a",
        description="Prompt used when a request names none: `name` (its production label), `name@n` or `name@label`.",
    )
    prompt_cache_s: float = Field(
        30.0,
        ge=0,
        description="How long an instance keeps what a prompt label (or bare name) points at; a moved label "
        "reaches every instance within this long (0: read Firestore on every request).",
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, description="Largest accepted image, in bytes.")
    max_image_pixels: int = Field(40_000_000, description="Largest accepted image area (width x height).")
    gemini_api_key: str = Field("", description="Gemini API key (Google AI Studio); from Secret Manager in production.")
    gemini_use_vertex: bool = Field(False, description="true: call Gemini through Vertex AI (project credentials).")
    gemini_location: str = Field("europe-west1", description="Vertex AI location for Gemini.")
    gemini_base_url: str = Field("", description="Override of the Gemini endpoint (tests point it at a local server).")
    gemini_timeout_s: float = Field(60.0, description="Timeout of one Gemini call, in seconds.")
    gemini_retry_attempts: int = Field(4, description="Attempts per Gemini call on 408/429/5xx (1 = no retry).")
    gemini_retry_initial_delay_s: float = Field(1.0, description="First backoff delay between Gemini attempts.")
    gemini_retry_max_delay_s: float = Field(16.0, description="Longest backoff delay between Gemini attempts.")
    cross_check: Literal["off", "on"] = Field(
        "on",
        description="`on`: every extraction (or a sample, CROSS_CHECK_SAMPLE_RATE) is read a second time by "
        "another reader before the answer, and the `cross_check` evaluation compares the two; `off` runs nothing.",
    )
    cross_check_sample_rate: float = Field(
        1.0, ge=0, le=1, description="Share of extractions cross-checked when CROSS_CHECK=on (1 = every one)."
    )
    cross_check_reader: str = Field(
        "",
        description="The second reader: `tesseract`, `tesseract-alternate` (other page variants first) or a "
        "Gemini model id; empty chooses: for a Gemini extraction tesseract where it is installed, else "
        "CROSS_CHECK_GEMINI_MODEL; for a tesseract extraction CROSS_CHECK_GEMINI_MODEL when Gemini is "
        "configured, else tesseract with other preprocessing.",
    )
    cross_check_gemini_model: str = Field(
        "gemini-2.5-flash-lite", description="The cheaper Gemini model a chosen Gemini second reader uses."
    )
    cross_check_timeout_s: float = Field(
        30.0,
        gt=0,
        description="Longest the answer waits for the second reading after the primary one; later, the "
        "cross check is recorded as skipped.",
    )
    cors_allowed_origins: str = Field(
        "",
        description="Comma-separated origins a browser may call the API from (e.g. https://app.example.org); "
        "`*` for any; empty for none.",
    )
    llm_judge_model: str = Field(
        "gemini-2.5-flash", description="Gemini model of an `llm_judge` evaluator that names no `model`."
    )
    online_judges: str = Field(
        "",
        description="`llm_judge` evaluators run on every extraction, as a JSON list of their params (each with "
        'its own `label`, e.g. `[{"label": "faithful", "rubric": "...", "output": "boolean"}]`), so the review '
        "queue's agreement endpoint checks them against reviewers' verdicts. Each adds one judge call (its "
        "latency and tokens) to every extraction; empty: none.",
    )
    ml_app: str = Field("vote-extractor", description="LLM Observability ml_app of every span and evaluation.")
    llmobs_enabled: bool = Field(True, description="false turns LLM Observability off (evaluations still stored).")
    llmobs_flush_timeout_s: float = Field(
        2.0, description="Longest a request waits to hand its spans and evaluations to Datadog."
    )
    evaluation_delivery: Literal["background", "in_request"] = Field(
        "background",
        description="How POST /extract sends its evaluations to Datadog: `background` after the answer, by the "
        "process's delivery thread (staged and leased first; what it never sends, the resend does); `in_request` "
        "before the answer (waits up to LLMOBS_FLUSH_TIMEOUT_S and one more Firestore write).",
    )
    shards_topic: str = Field(
        "experiment-shards", description="Pub/Sub topic that carries experiment shards to `experiments-worker`."
    )
    shard_size: int = Field(
        200, ge=1, description="Runs per shard, about: every experiment runs as shards on experiments-worker."
    )
    max_concurrent_shards: int = Field(
        4,
        ge=1,
        description="Shards one instance runs at once (more are refused and redelivered); deployed, 1 a "
        "worker instance, and the worker's max instances cap the shards running at once.",
    )
    model_calls_per_second: float = Field(
        0.0, ge=0, description="Model calls per second one experiment process may make (0 = no cap)."
    )
    experiment_quota_rpm: float = Field(
        0.0,
        ge=0,
        description="The model's requests-a-minute quota for the project, shared by every running shard: each "
        "paces its calls at its share (0 = no shared budget, each shard's adaptive limit learns the quota alone).",
    )
    experiment_quota_tpm: float = Field(
        0.0,
        ge=0,
        description="The model's tokens-a-minute quota for the project, shared like EXPERIMENT_QUOTA_RPM (tokens "
        "per call learnt from the answers' usage; 0 = none).",
    )
    experiment_quota_safety: float = Field(
        0.95,
        gt=0,
        le=1,
        description="The share of EXPERIMENT_QUOTA_RPM / _TPM the running shards aim for together (room for the "
        "moments a shard starts or ends before the others notice).",
    )
    shard_max_attempts: int = Field(
        5, ge=1, description="Deliveries of one shard before it is marked failed and reported."
    )
    shard_lease_s: float = Field(
        120.0,
        gt=0,
        description="A running shard's lease, renewed every third of it: a redelivery takes over the shard of a "
        "worker that died within this long.",
    )
    shard_time_budget_s: float = Field(
        240.0,
        gt=0,
        description="After this long a shard's delivery starts no new run; with the runs in flight (each within "
        "its run_timeout_s, 240 s at most) it ends inside the worker's 540 s timeout, and the next delivery goes on.",
    )
    review_random_sample_rate: float = Field(
        0.02,
        ge=0,
        le=1,
        description="The share of extractions drawn uniformly at random (a hash of the id, whatever their flags) "
        "into the review queue with reason `random_sample`: production accuracy is estimated from their verdicts.",
    )
    review_claim_s: float = Field(
        600.0, gt=0, description="How long a reviewer holds a claimed review-queue item before it is pending again."
    )
    scheduler_audience: str = Field(
        "", description="Expected `aud` of the Cloud Scheduler OIDC token (the function's URL)."
    )
    scheduler_service_account: str = Field(
        "", description="Service account e-mail the Cloud Scheduler OIDC token must carry."
    )
    scheduler_token_checked_by_cloud_run: bool = Field(
        False,
        description="true when experiments-scheduled is private: Cloud Run verified the token's signature "
        "(and removed it), the function checks its audience, account and expiry.",
    )
    oidc_certs_url: str = Field(
        "https://www.googleapis.com/oauth2/v1/certs", description="Where Google's token-signing certificates are."
    )
    traffic_alert_window_minutes: int = Field(
        60,
        ge=60,
        le=24 * 60,
        description="Production-traffic rate alerts: each experiments-scheduled tick checks the last complete "
        "window of this many minutes (windows aligned to UTC midnight of 1970); at least the scheduler's hour, so "
        "no traffic goes unchecked, and a window alerts once however many ticks check it.",
    )
    traffic_alert_max_extractions: int = Field(
        5000,
        ge=1,
        description="Most extractions a tick reads from one window (oldest first); a fuller window is judged on "
        "these and its alerts say it was capped.",
    )
    max_cross_check_disagreement_rate: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Alert `cross_check_disagreement_rate` when more than this share of a window's cross-checked "
        "extractions disagree with their second reading (cross_check below 1); 1 turns it off.",
    )
    min_cross_checks: int = Field(
        20, ge=1, description="Fewer cross-checked extractions in a window than this raise no disagreement alert."
    )
    max_consistency_failure_rate: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Alert `consistency_failure_rate` when more than this share of a window's judged extractions "
        "fail `consistency` or `figures_match_words`; 1 turns it off.",
    )
    min_consistency_judged: int = Field(
        20, ge=1, description="Fewer extractions judged for consistency in a window than this raise no alert."
    )
    max_online_evaluation_failure_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Alert `online_evaluation_failure_rate` when more than this share of a window's online "
        "evaluations raised (skipped ones are not counted); 1 turns it off.",
    )
    min_online_evaluations: int = Field(
        50, ge=1, description="Fewer online evaluations attempted in a window than this raise no failure-rate alert."
    )
    max_thumbs_down_rate: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Alert `thumbs_down_rate` when more than this share of a window's feedback is thumbs down; "
        "1 turns it off.",
    )
    min_thumbs_feedback: int = Field(
        10, ge=1, description="Fewer thumbs up and down in a window than this raise no thumbs-down alert."
    )
    dd_api_key: str = Field(
        "",
        description="Datadog API key: LLM Observability posts with it when DD_LLMOBS_AGENTLESS_ENABLED=1, and "
        "alerts also go to Datadog as events.",
    )
    dd_app_key: str = Field(
        "", description="Datadog application key: with it a published dataset version can be pushed to Datadog."
    )
    dd_site: str = Field("datadoghq.com", description="Datadog site, e.g. datadoghq.com or datadoghq.eu.")
    datadog_events_url: str = Field(
        "", description="Override of Datadog's events endpoint (tests point it at a local server)."
    )
    datadog_metrics_url: str = Field(
        "", description="Override of Datadog's metrics endpoint (tests point it at a local server)."
    )

    _api_key_entries: list[ApiKey] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _parse_api_keys(self) -> Settings:
        # Production records who did what by key name: the plain form (every key admin, naming
        # anyone) is for local use only.
        self._api_key_entries = parse_api_keys(self.api_keys, plain_allowed=self.environment == "local")
        return self

    @property
    def api_key_entries(self) -> list[ApiKey]:
        return self._api_key_entries

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_allowed_origins.split(",") if origin.strip()]

    @property
    def datadog_events_endpoint(self) -> str:
        """Where alerts go as Datadog events; empty when Datadog is not configured."""
        if self.datadog_events_url:
            return self.datadog_events_url
        return f"https://api.{self.dd_site}/api/v1/events" if self.dd_api_key else ""

    @property
    def datadog_metrics_endpoint(self) -> str:
        """Where the production-accuracy gauges go (v2 series); empty when Datadog is not configured."""
        if self.datadog_metrics_url:
            return self.datadog_metrics_url
        return f"https://api.{self.dd_site}/api/v2/series" if self.dd_api_key else ""

    @property
    def gemini_configured(self) -> bool:
        return bool(self.gemini_api_key) or self.gemini_use_vertex

    @property
    def resolved_default_model(self) -> str:
        if self.default_model:
            return self.default_model
        return "gemini-2.5-flash" if self.gemini_configured else "tesseract"

    def check_production_ready(self) -> None:
        """Refuse to serve production with the well-known local key."""
        if self.environment == "production" and find_key(LOCAL_API_KEY, self.api_key_entries) is not None:
            raise RuntimeError("ENVIRONMENT=production but API_KEYS holds the local development key")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production_ready()
    return settings


def configuration_table() -> str:
    """The README's configuration table, as Markdown."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else ""
        rows.append(f"| `{name.upper()}` | `{default}` | {field.description} |")
    for name, meaning in PASSTHROUGH_VARIABLES.items():
        rows.append(f"| `{name}` | | {meaning} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(configuration_table())
