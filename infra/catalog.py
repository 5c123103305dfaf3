"""The deployed names, read from `infra/functions.json` (also read by Terraform).

Standard library only: `./deploy.sh deploy --dry-run` runs on any Python 3.11 without the
project's virtual environment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CATALOG_PATH = ROOT / "infra" / "functions.json"

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PLACEHOLDERS = ("project", "region", "images_bucket", "dd_site", "shards_topic", "scheduler_invoker", "function_url")
# The console is a client of the API: its settings need only where the API and Datadog are.
CONSOLE_PLACEHOLDERS = ("project", "region", "dd_site")
# A Cloud Run service's request timeout is at most 60 minutes.
CLOUD_RUN_MAX_TIMEOUT_S = 3600


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    source: str
    entry_point: str
    trigger: str  # "http" or "topic"
    topic_key: str | None
    retry: bool
    allow_unauthenticated: bool
    memory: str
    cpu: str
    timeout_s: int
    min_instances: int
    max_instances: int
    concurrency: int
    service_account_id: str
    secrets: tuple[str, ...]
    project_roles: tuple[str, ...]
    images_bucket_role: str | None
    publishes_to: tuple[str, ...]
    env: dict[str, str]
    after_response: str  # what the function does once it has answered: nothing, on Cloud Functions

    @property
    def source_dir(self) -> Path:
        return ROOT / self.source


@dataclass(frozen=True)
class ConsoleSpec:
    """The Streamlit console: a Cloud Run service deployed from source, private (IAM)."""

    service: str
    source: str
    shared_paths: tuple[str, ...]
    service_account_id: str
    memory: str
    cpu: str
    timeout_s: int
    min_instances: int
    max_instances: int
    concurrency: int
    session_affinity: bool
    image_repository: str  # where `gcloud run deploy --source` pushes (Terraform adds a cleanup policy)
    env: dict[str, str]
    secrets: dict[str, str]  # env var in the console -> key of Catalog.secrets
    allow_unauthenticated: bool
    invokers_terraform_variable: str
    invokers_deploy_option: str

    @property
    def source_dir(self) -> Path:
        return ROOT / self.source


@dataclass(frozen=True)
class Catalog:
    runtime: str
    images_bucket: str
    build_service_account_id: str
    artifact_repository: str
    secrets: dict[str, str]  # env var -> Secret Manager secret id
    topics: dict[str, str]  # key -> topic name
    dead_letter: dict[str, Any]
    scheduler: dict[str, Any]
    common_env: dict[str, str]
    functions: tuple[FunctionSpec, ...]
    console: ConsoleSpec

    def function(self, name: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise KeyError(name)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    raw = json.loads(path.read_text())
    functions = tuple(_function(entry) for entry in raw["functions"])
    catalog = Catalog(
        runtime=raw["runtime"],
        images_bucket=raw["images_bucket"],
        build_service_account_id=raw["build_service_account_id"],
        artifact_repository=raw["artifact_repository"]["id"],
        secrets=dict(raw["secrets"]),
        topics=dict(raw["topics"]),
        dead_letter=dict(raw["dead_letter"]),
        scheduler=dict(raw["scheduler"]),
        common_env=dict(raw["common_env"]),
        functions=functions,
        console=_console(raw["console"]),
    )
    _check(catalog)
    return catalog


def fill(template: str, values: dict[str, str]) -> str:
    """`{project}`-style placeholders replaced; an unknown one is an error, not a literal."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"unknown placeholder {{{key}}} in {template!r}")
        return values[key]

    return _PLACEHOLDER.sub(replace, template)


def split_placeholders(template: str) -> list[tuple[str, str | None]]:
    """`template` as (literal text, following placeholder or None) pairs, in order."""
    pieces: list[tuple[str, str | None]] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        pieces.append((template[position : match.start()], match.group(1)))
        position = match.end()
    pieces.append((template[position:], None))
    return pieces


def service_account_email(account_id: str, project: str) -> str:
    return f"{account_id}@{project}.iam.gserviceaccount.com"


# Cloud Functions (gen2) allocates CPU to an instance only while it serves a request or event:
# work left running after the answer is throttled to a crawl or lost with the instance.
NOTHING_AFTER_RESPONSE = "nothing"


def _function(entry: dict[str, Any]) -> FunctionSpec:
    return FunctionSpec(
        after_response=entry.get("after_response", ""),
        name=entry["name"],
        source=entry["source"],
        entry_point=entry["entry_point"],
        trigger=entry["trigger"],
        topic_key=entry.get("topic"),
        retry=bool(entry.get("retry", False)),
        allow_unauthenticated=bool(entry["allow_unauthenticated"]),
        memory=entry["memory"],
        cpu=str(entry["cpu"]),
        timeout_s=int(entry["timeout_s"]),
        min_instances=int(entry["min_instances"]),
        max_instances=int(entry["max_instances"]),
        concurrency=int(entry["concurrency"]),
        service_account_id=entry["service_account_id"],
        secrets=tuple(entry["secrets"]),
        project_roles=tuple(entry["project_roles"]),
        images_bucket_role=entry.get("images_bucket_role"),
        publishes_to=tuple(entry["publishes_to"]),
        env=dict(entry["env"]),
    )


def _console(entry: dict[str, Any]) -> ConsoleSpec:
    invokers = entry["invokers"]
    return ConsoleSpec(
        service=entry["service"],
        source=entry["source"],
        shared_paths=tuple(entry["shared_paths"]),
        service_account_id=entry["service_account_id"],
        memory=entry["memory"],
        cpu=str(entry["cpu"]),
        timeout_s=int(entry["timeout_s"]),
        min_instances=int(entry["min_instances"]),
        max_instances=int(entry["max_instances"]),
        concurrency=int(entry["concurrency"]),
        session_affinity=bool(entry["session_affinity"]),
        image_repository=entry["image_repository"]["id"],
        env=dict(entry["env"]),
        secrets=dict(entry["secrets"]),
        allow_unauthenticated=bool(invokers["allow_unauthenticated"]),
        invokers_terraform_variable=invokers["terraform_variable"],
        invokers_deploy_option=invokers["deploy_option"],
    )


def _check(catalog: Catalog) -> None:
    """Mistakes that gcloud or Terraform would only report halfway through a deploy."""
    problems: list[str] = []
    names = [spec.name for spec in catalog.functions]
    if len(set(names)) != len(names):
        problems.append(f"function names repeat: {names}")
    account_ids = [spec.service_account_id for spec in catalog.functions]
    account_ids += [catalog.scheduler["invoker_service_account_id"], catalog.build_service_account_id]
    account_ids.append(catalog.console.service_account_id)
    if len(set(account_ids)) != len(account_ids):
        problems.append(f"service account ids repeat: {account_ids}")
    for account_id in account_ids:
        # IAM: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter.
        if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account_id):
            problems.append(f"service account id {account_id!r} is not a valid IAM account id")
    for spec in catalog.functions:
        problems += _function_problems(spec, catalog)
    problems += _console_problems(catalog.console, catalog)
    if catalog.scheduler["function"] not in names:
        problems.append(f"the scheduler calls {catalog.scheduler['function']!r}, which is not a function")
    if catalog.dead_letter["topic"] not in catalog.topics:
        problems.append(f"dead-letter topic key {catalog.dead_letter['topic']!r} is not in topics")
    for template in [catalog.images_bucket, *catalog.common_env.values()]:
        problems += _placeholder_problems(template)
    if problems:
        raise ValueError("infra/functions.json: " + "; ".join(problems))


def _function_problems(spec: FunctionSpec, catalog: Catalog) -> list[str]:
    problems = []
    if spec.trigger not in ("http", "topic"):
        problems.append(f"{spec.name}: trigger must be http or topic, not {spec.trigger!r}")
    if spec.trigger == "topic" and spec.topic_key not in catalog.topics:
        problems.append(f"{spec.name}: trigger topic {spec.topic_key!r} is not in topics")
    if spec.concurrency > 1 and float(spec.cpu) < 1:
        problems.append(f"{spec.name}: concurrency above 1 needs at least 1 CPU")
    if spec.trigger == "topic" and spec.timeout_s > 540:
        problems.append(f"{spec.name}: an event-driven function times out at 540 s at most")
    if spec.after_response != NOTHING_AFTER_RESPONSE:
        problems.append(
            f"{spec.name}: after_response must be {NOTHING_AFTER_RESPONSE!r}: an instance gets CPU only while it "
            "serves a request, so work after the answer stalls or is lost (run it inside a request or a Pub/Sub "
            "delivery)"
        )
    if spec.timeout_s > 3600:
        problems.append(f"{spec.name}: an HTTP function times out at 3600 s at most")
    unknown_secrets = set(spec.secrets) - set(catalog.secrets)
    if unknown_secrets:
        problems.append(f"{spec.name}: unknown secrets {sorted(unknown_secrets)}")
    unknown_topics = set(spec.publishes_to) - set(catalog.topics)
    if unknown_topics:
        problems.append(f"{spec.name}: publishes to unknown topics {sorted(unknown_topics)}")
    overlap = (set(spec.env) | set(catalog.common_env)) & set(spec.secrets)
    if overlap:
        problems.append(f"{spec.name}: {sorted(overlap)} are both plain env vars and secrets")
    for value in spec.env.values():
        problems += _placeholder_problems(value)
    return problems


def _console_problems(console: ConsoleSpec, catalog: Catalog) -> list[str]:
    problems = []
    where = f"console {console.service}"
    # Cloud Run service names: lowercase letters, digits and hyphens, starting with a letter, at most 49.
    if not re.fullmatch(r"[a-z]([a-z0-9-]{0,47}[a-z0-9])?", console.service):
        problems.append(f"{where}: {console.service!r} is not a valid Cloud Run service name")
    if console.image_repository == catalog.artifact_repository:
        problems.append(f"{where}: its images need their own repository, not the functions' (different policy)")
    if console.service in {spec.name for spec in catalog.functions}:
        problems.append(f"{where}: a function has the same name (Cloud Run serves both as services)")
    if "console" in {spec.name for spec in catalog.functions}:
        problems.append(f"{where}: a function named console would be staged in the console's folder")
    if console.allow_unauthenticated:
        problems.append(f"{where}: must stay private (allow_unauthenticated false): it holds an API key")
    if console.timeout_s > CLOUD_RUN_MAX_TIMEOUT_S:
        problems.append(f"{where}: a Cloud Run request times out at {CLOUD_RUN_MAX_TIMEOUT_S} s at most")
    if console.concurrency > 1 and float(console.cpu) < 1:
        problems.append(f"{where}: concurrency above 1 needs at least 1 CPU")
    if console.min_instances > console.max_instances:
        problems.append(f"{where}: min_instances is above max_instances")
    if not console.session_affinity:
        problems.append(f"{where}: Streamlit's websocket needs session affinity (session_affinity true)")
    unknown_secrets = set(console.secrets.values()) - set(catalog.secrets)
    if unknown_secrets:
        problems.append(f"{where}: unknown secrets {sorted(unknown_secrets)}")
    overlap = set(console.env) & set(console.secrets)
    if overlap:
        problems.append(f"{where}: {sorted(overlap)} are both plain env vars and secrets")
    for path in console.shared_paths:
        if not path.startswith("shared/") or ".." in path.split("/"):
            problems.append(f"{where}: shared path {path!r} is not a file or folder inside shared/")
    for value in console.env.values():
        problems += _placeholder_problems(value, allowed=CONSOLE_PLACEHOLDERS)
    return problems


def _placeholder_problems(template: str, allowed: tuple[str, ...] = PLACEHOLDERS) -> list[str]:
    unknown = set(_PLACEHOLDER.findall(template)) - set(allowed)
    return [f"unknown placeholder {{{key}}} in {template!r}" for key in sorted(unknown)]
