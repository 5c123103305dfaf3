"""The gcloud commands of one deploy, as data: printed by `--dry-run`, run otherwise.

Some values exist only once an earlier command has run (a function's URL, the subscription
Eventarc made); such a value is a `Ref` to what an earlier command captured, rendered as a
shell variable so the printed plan is a script that could be pasted. Secret values never enter
a command: they are piped from the caller's environment (`stdin_from_env`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra.catalog import Catalog, FunctionSpec, fill, service_account_email, split_placeholders


@dataclass(frozen=True)
class Ref:
    """The stripped output of the earlier command that captured `name`."""

    name: str


Part = str | Ref
Arg = str | Ref | tuple[Part, ...]  # a tuple is one argument made of literal text and refs

PROJECT_NUMBER = "PROJECT_NUMBER"


@dataclass(frozen=True)
class Command:
    argv: tuple[Arg, ...]
    note: str = ""
    capture: str | None = None  # keep stdout under this name
    stdin_from_env: str | None = None  # pipe this environment variable's value to stdin


@dataclass(frozen=True)
class CreateOrUpdate:
    """`update` when `probe` succeeds (the resource exists), otherwise `create`."""

    probe: Command
    create: Command
    update: Command
    note: str = ""


Step = Command | CreateOrUpdate


@dataclass(frozen=True)
class Target:
    project: str
    region: str
    dd_site: str
    staged_sources: Mapping[str, Path] = field(default_factory=dict)
    console_source: Path | None = None
    console_invokers: tuple[str, ...] = ()  # IAM members, e.g. user:ada@example.org


def placeholder_values(catalog: Catalog, target: Target) -> dict[str, str]:
    """The placeholders known before anything runs (`{function_url}` needs the project number)."""
    values = {"project": target.project, "region": target.region, "dd_site": target.dd_site}
    values["images_bucket"] = fill(catalog.images_bucket, values)
    values["shards_topic"] = catalog.topics["experiment_shards"]
    values["scheduler_invoker"] = service_account_email(catalog.scheduler["invoker_service_account_id"], target.project)
    return values


def function_url(spec: FunctionSpec, target: Target) -> tuple[Part, ...]:
    """The function's deterministic Cloud Run URL, https://NAME-PROJECT_NUMBER.REGION.run.app.

    Known before the first deploy, so it can be the scheduler's target, the OIDC audience and an
    env var of the function itself (the other run.app URL carries a hash known only afterwards).
    """
    return (f"https://{spec.name}-", Ref(PROJECT_NUMBER), f".{target.region}.run.app")


def fill_parts(template: str, values: Mapping[str, str | tuple[Part, ...]]) -> tuple[Part, ...]:
    parts: list[Part] = []
    for text, key in split_placeholders(template):
        parts.append(text)
        if key is None:
            continue
        if key not in values:
            raise KeyError(f"unknown placeholder {{{key}}} in {template!r}")
        value = values[key]
        parts.extend(value if isinstance(value, tuple) else (value,))
    return _merged(parts)


def _merged(parts: list[Part]) -> tuple[Part, ...]:
    """Adjacent literal text joined, empty text dropped: one literal per run of text."""
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        elif part != "":
            merged.append(part)
    return tuple(merged)


def secret_version_steps(catalog: Catalog, target: Target, env_names: list[str]) -> list[Step]:
    """Add each named environment variable's value as a new version of its secret (value via stdin)."""
    return [
        Command(
            (
                "gcloud",
                "secrets",
                "versions",
                "add",
                catalog.secrets[name],
                f"--project={target.project}",
                "--data-file=-",
            ),  # fmt: skip
            note=f"{name} from your environment becomes the newest version of {catalog.secrets[name]}",
            stdin_from_env=name,
        )
        for name in env_names
    ]


def deploy_steps(catalog: Catalog, target: Target) -> list[Step]:
    """Every function, the wiring that needs them deployed (invokers, dead-lettering, scheduler), the console."""
    steps: list[Step] = [
        Command(
            ("gcloud", "projects", "describe", target.project, "--format=value(projectNumber)"),
            note="the project number is in the functions' deterministic URLs and names the Pub/Sub service agent",
            capture=PROJECT_NUMBER,
        )
    ]
    steps += [deploy_function(catalog, target, spec) for spec in catalog.functions]
    for spec in catalog.functions:
        if spec.trigger == "topic":
            steps += _event_wiring(catalog, target, spec)
    steps += _scheduler(catalog, target)
    steps.append(deploy_console(catalog, target))
    steps += [console_invoker_binding(catalog, target, member) for member in target.console_invokers]
    return steps


def deploy_function(catalog: Catalog, target: Target, spec: FunctionSpec) -> Command:
    values: dict[str, str | tuple[Part, ...]] = {**placeholder_values(catalog, target)}
    values["function_url"] = function_url(spec, target)
    env_parts: list[Part] = ["--set-env-vars="]
    for index, (name, template) in enumerate({**catalog.common_env, **spec.env}.items()):
        value = fill_parts(template, values)
        if any(isinstance(part, str) and "," in part for part in value):  # gcloud splits on commas
            raise ValueError(f"{spec.name}: env var {name} holds a comma")
        env_parts += [("," if index else "") + f"{name}=", *value]
    secrets = ",".join(f"{name}={catalog.secrets[name]}:latest" for name in spec.secrets)
    source = target.staged_sources.get(spec.name, Path(".build/deploy") / spec.name)
    argv: list[Arg] = [
        "gcloud", "functions", "deploy", spec.name, "--gen2",
        f"--project={target.project}", f"--region={target.region}",
        f"--runtime={catalog.runtime}", f"--source={source}", f"--entry-point={spec.entry_point}",
        f"--service-account={service_account_email(spec.service_account_id, target.project)}",
        "--build-service-account="
        f"projects/{target.project}/serviceAccounts/"
        f"{service_account_email(catalog.build_service_account_id, target.project)}",
        f"--docker-repository=projects/{target.project}/locations/{target.region}/repositories/"
        f"{catalog.artifact_repository}",
        f"--memory={spec.memory}", f"--cpu={spec.cpu}", f"--timeout={spec.timeout_s}s",
        f"--min-instances={spec.min_instances}", f"--max-instances={spec.max_instances}",
        f"--concurrency={spec.concurrency}",
        _merged(env_parts),
        f"--set-secrets={secrets}",
    ]  # fmt: skip
    if spec.trigger == "http":
        access = "--allow-unauthenticated" if spec.allow_unauthenticated else "--no-allow-unauthenticated"
        argv += ["--trigger-http", access]
    else:
        argv += [
            f"--trigger-topic={catalog.topics[spec.topic_key or '']}",
            f"--trigger-location={target.region}",
            # Eventarc pushes as this identity; it is granted run.invoker on the function below.
            f"--trigger-service-account={service_account_email(spec.service_account_id, target.project)}",
        ]
        if spec.retry:
            argv.append("--retry")
    argv.append("--quiet")
    return Command(
        tuple(argv),
        note=(
            f"function {spec.name} (source {spec.source}, entry point {spec.entry_point}; after its response: "
            f"{spec.after_response})"
        ),
    )


def deploy_console(catalog: Catalog, target: Target) -> Command:
    """The console on Cloud Run from its staged source (built from its Dockerfile), private by default."""
    console = catalog.console
    values = placeholder_values(catalog, target)
    env = []
    for name, template in console.env.items():
        value = fill(template, values)
        if "," in value:  # gcloud splits on commas
            raise ValueError(f"console: env var {name} holds a comma")
        env.append(f"{name}={value}")
    secrets = ",".join(f"{name}={catalog.secrets[key]}:latest" for name, key in console.secrets.items())
    source = target.console_source or Path(".build/deploy") / "console"
    argv: list[Arg] = [
        "gcloud", "run", "deploy", console.service,
        f"--project={target.project}", f"--region={target.region}", f"--source={source}",
        f"--service-account={service_account_email(console.service_account_id, target.project)}",
        "--build-service-account="
        f"projects/{target.project}/serviceAccounts/"
        f"{service_account_email(catalog.build_service_account_id, target.project)}",
        "--no-allow-unauthenticated",
        "--ingress=all",
        "--session-affinity",
        f"--memory={console.memory}", f"--cpu={console.cpu}", f"--timeout={console.timeout_s}s",
        f"--min-instances={console.min_instances}", f"--max-instances={console.max_instances}",
        f"--concurrency={console.concurrency}",
        f"--set-env-vars={','.join(env)}",
        f"--set-secrets={secrets}",
        "--quiet",
    ]  # fmt: skip
    return Command(
        tuple(argv),
        note=f"the console {console.service} on Cloud Run (source {console.source}, built from its Dockerfile; "
        "websockets need a service, not a function): private, only the members granted run.invoker may open it",
    )


def console_invoker_binding(catalog: Catalog, target: Target, member: str) -> Command:
    return Command(
        (
            "gcloud",
            "run",
            "services",
            "add-iam-policy-binding",
            catalog.console.service,
            f"--project={target.project}",
            f"--region={target.region}",
            f"--member={member}",
            "--role=roles/run.invoker",
        ),
        note=f"{member} may open the console ({catalog.console.invokers_deploy_option})",
    )


def _invoker_binding(spec: FunctionSpec, target: Target, account: str, *, note: str) -> Command:
    return Command(
        (
            "gcloud",
            "functions",
            "add-invoker-policy-binding",
            spec.name,
            f"--project={target.project}",
            f"--region={target.region}",
            f"--member=serviceAccount:{account}",
        ),
        note=note,
    )


def _event_wiring(catalog: Catalog, target: Target, spec: FunctionSpec) -> list[Step]:
    where = (f"--project={target.project}", f"--region={target.region}")
    prefix = spec.name.upper().replace("-", "_")
    trigger, subscription = f"{prefix}_TRIGGER", f"{prefix}_SUBSCRIPTION"
    dead_letter_topic = catalog.topics[catalog.dead_letter["topic"]]
    pubsub_agent: tuple[Part, ...] = (
        "--member=serviceAccount:service-",
        Ref(PROJECT_NUMBER),
        "@gcp-sa-pubsub.iam.gserviceaccount.com",
    )
    return [
        _invoker_binding(
            spec,
            target,
            service_account_email(spec.service_account_id, target.project),
            note=f"the Eventarc trigger of {spec.name} pushes as the function's own service account",
        ),
        Command(
            ("gcloud", "functions", "describe", spec.name, *where, "--v2", "--format=value(eventTrigger.trigger)"),
            note=f"the push subscription of {spec.name} is made by its Eventarc trigger, not by Terraform",
            capture=trigger,
        ),
        Command(
            (
                "gcloud",
                "eventarc",
                "triggers",
                "describe",
                Ref(trigger),
                "--format=value(transport.pubsub.subscription)",
            ),
            capture=subscription,
        ),  # fmt: skip
        Command(
            (
                "gcloud",
                "pubsub",
                "subscriptions",
                "update",
                Ref(subscription),
                f"--project={target.project}",
                f"--dead-letter-topic={dead_letter_topic}",
                f"--max-delivery-attempts={catalog.dead_letter['max_delivery_attempts']}",
            ),
            note=f"after {catalog.dead_letter['max_delivery_attempts']} failed deliveries a message goes to "
            f"{dead_letter_topic}",
        ),  # fmt: skip
        Command(
            (
                "gcloud",
                "pubsub",
                "subscriptions",
                "add-iam-policy-binding",
                Ref(subscription),
                f"--project={target.project}",
                pubsub_agent,
                "--role=roles/pubsub.subscriber",
            ),
            note="dead-lettering needs the Pub/Sub service agent to acknowledge on this subscription",
        ),  # fmt: skip
    ]


def _scheduler(catalog: Catalog, target: Target) -> list[Step]:
    job = catalog.scheduler
    spec = catalog.function(job["function"])
    invoker = service_account_email(job["invoker_service_account_id"], target.project)
    url = function_url(spec, target)
    location = (f"--location={target.region}", f"--project={target.project}")
    common: tuple[Arg, ...] = (
        f"--schedule={job['schedule']}",
        f"--time-zone={job['time_zone']}",
        ("--uri=", *url),
        f"--http-method={job['http_method']}",
        f"--message-body={job['message_body']}",
        f"--oidc-service-account-email={invoker}",
        ("--oidc-token-audience=", *url),
        f"--attempt-deadline={job['attempt_deadline']}",
        f"--max-retry-attempts={job['max_retry_attempts']}",
        f"--min-backoff={job['min_backoff']}",
    )
    return [
        _invoker_binding(spec, target, invoker, note=f"only the scheduler's service account may invoke {spec.name}"),
        CreateOrUpdate(
            probe=Command(("gcloud", "scheduler", "jobs", "describe", job["job"], *location)),
            create=Command(
                (
                    "gcloud",
                    "scheduler",
                    "jobs",
                    "create",
                    "http",
                    job["job"],
                    *location,
                    *common,
                    "--headers=Content-Type=application/json",
                )
            ),  # fmt: skip
            update=Command(
                (
                    "gcloud",
                    "scheduler",
                    "jobs",
                    "update",
                    "http",
                    job["job"],
                    *location,
                    *common,
                    "--update-headers=Content-Type=application/json",
                )
            ),  # fmt: skip
            note=f"Cloud Scheduler job {job['job']} ({job['schedule']} {job['time_zone']}) calls {spec.name} "
            "with an OIDC token whose audience is the function's URL; created or updated",
        ),
    ]


# --- rendering --------------------------------------------------------------------------------

_ONE_LINE_WORDS = 8


def render_arg(arg: Arg) -> str:
    if isinstance(arg, Ref):
        return f'"${{{arg.name}}}"'
    if isinstance(arg, tuple):
        return "".join(render_arg(part) for part in arg)
    return shlex.quote(arg) if arg else ""


def _arg_text(arg: Arg) -> str:
    """An argument's literal start (a reference counts as no text)."""
    if isinstance(arg, str):
        return arg
    if isinstance(arg, tuple) and arg and isinstance(arg[0], str):
        return arg[0]
    return ""


def render_command(command: Command, *, indent: str = "") -> str:
    """One command as bash; a long one puts each flag on its own continued line."""
    words = [render_arg(arg) for arg in command.argv]
    # Where the flags start, found on the arguments themselves (a rendered word may be quoted).
    first_flag = next((i for i, arg in enumerate(command.argv) if _arg_text(arg).startswith("-")), len(words))
    if len(words) > _ONE_LINE_WORDS and first_flag < len(words):
        head, flags = words[:first_flag], words[first_flag:]
        line = f" \\\n{indent}    ".join([" ".join(head), *flags])
    else:
        line = " ".join(words)
    if command.stdin_from_env:
        line = f"printf '%s' \"${command.stdin_from_env}\" | {line}"
    if command.capture:
        line = f"{command.capture}=$({line})"
    return line


def render_steps(steps: list[Step]) -> Iterator[str]:
    """The plan as lines of a bash script: comments, then the command."""
    for step in steps:
        if step.note:
            yield f"# {step.note}"
        if isinstance(step, CreateOrUpdate):
            yield f"if {render_command(step.probe)} >/dev/null 2>&1; then"
            yield f"  {render_command(step.update, indent='  ')}"
            yield "else"
            yield f"  {render_command(step.create, indent='  ')}"
            yield "fi"
        else:
            yield render_command(step)


def resolve(argv: tuple[Arg, ...], captured: Mapping[str, str]) -> list[str]:
    """The argv with every `Ref` replaced by its captured value."""

    def one(arg: Arg) -> str:
        if isinstance(arg, Ref):
            if not captured.get(arg.name):
                raise LookupError(f"{arg.name} was not captured by an earlier command")
            return captured[arg.name]
        if isinstance(arg, tuple):
            return "".join(one(part) for part in arg)
        return arg

    return [one(arg) for arg in argv]
