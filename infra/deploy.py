"""`./deploy.sh deploy`: stage every function and the console and deploy them to Google Cloud with gcloud.

    python -m infra.deploy --project P --region R [--dry-run] [--dd-site S] [--add-secret-versions]
                           [--console-invoker MEMBER ...] [--datadog-notify @HANDLE ...]

The long-lived resources (APIs, Firestore, bucket, topics, service accounts, IAM, secrets,
monitors) come first from `infra/terraform`. `--dry-run` stages the sources and prints every
command as a script, without calling gcloud and without credentials. Standard library only.

A deploy refuses to start while the Datadog monitors would notify no one: `--datadog-notify`
names who they notify (written to `infra/terraform/datadog_notify.auto.tfvars`, which the next
`terraform apply` reads), or Terraform already has `datadog_notify` (a `.tfvars` file there, or
`TF_VAR_datadog_notify`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from infra.catalog import ROOT, Catalog, load_catalog
from infra.deploy_plan import Command, CreateOrUpdate, Step, Target, deploy_steps, render_steps, resolve
from infra.deploy_plan import secret_version_steps as secret_steps
from infra.staging import StagingError, stage_console, stage_function

DEFAULT_BUILD_DIR = ROOT / ".build" / "deploy"
TERRAFORM_DIR = ROOT / "infra" / "terraform"
NOTIFY_TFVARS = "datadog_notify.auto.tfvars"  # *.auto.tfvars: terraform apply reads it without -var-file
# Project ids: up to 30 lowercase letters, digits and hyphens, starting with a letter, not ending in
# a hyphen (new ones have at least 6; older and domain-scoped ones, `example.com:name`, differ).
_PROJECT = re.compile(r"([a-z0-9.-]+:)?[a-z]([a-z0-9-]{0,28}[a-z0-9])?")
_REGION = re.compile(r"[a-z]+(-[a-z]+)+[0-9]+")
_DD_SITE = re.compile(r"[a-z0-9]+([.-][a-z0-9]+)*\.[a-z]{2,}")
# An IAM principal that names someone: user:, group:, serviceAccount: or domain: and what follows.
_MEMBER = re.compile(r"(user|group|serviceAccount|domain):[A-Za-z0-9._%+@-]+")
# A Datadog notification handle as a monitor message names it: @slack-x, @pagerduty-y, @ada@example.org
# (the same rule as the validation of Terraform's datadog_notify; no quote, brace or `$`, which the
# .tfvars file or Terraform's interpolation would read).
_NOTIFY_HANDLE = re.compile(r"@[A-Za-z0-9._%+@-]+")
_TFVARS_NOTIFY = re.compile(r'^\s*datadog_notify\s*=\s*"([^"]*)"', re.MULTILINE)
NOBODY_NOTIFIED = (
    "the Datadog monitors would notify no one, so no alert would reach a person: pass --datadog-notify "
    "with who they notify (e.g. --datadog-notify @slack-llm-quality, @pagerduty-SERVICE or @ada@example.org; "
    "repeatable), or set datadog_notify in infra/terraform/terraform.tfvars"
)


class DeployError(Exception):
    """A deploy that cannot start or a command that failed; the message says which."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./deploy.sh deploy",
        description="Deploy the six Cloud Functions, the scheduler job and the console (Cloud Run) "
        "(run terraform apply in infra/terraform first).",
    )
    parser.add_argument("--project", required=True, help="Google Cloud project id, e.g. my-project-123")
    parser.add_argument("--region", required=True, help="region for functions and the scheduler job, e.g. europe-west1")
    parser.add_argument("--dd-site", default="datadoghq.com", help="Datadog site (default datadoghq.com)")
    parser.add_argument("--dry-run", action="store_true", help="stage and print every command; call nothing")
    parser.add_argument(
        "--add-secret-versions",
        action="store_true",
        help="add API_KEYS, DD_API_KEY, GEMINI_API_KEY, CONSOLE_API_KEY from the environment as new secret "
        "versions without asking",
    )
    parser.add_argument(
        "--console-invoker",
        action="append",
        default=[],
        metavar="MEMBER",
        help="who may open the console, e.g. user:ada@example.org or group:reviewers@example.org (repeatable; "
        "the console is private: nobody by default)",
    )
    parser.add_argument(
        "--datadog-notify",
        action="append",
        default=[],
        metavar="@HANDLE",
        help="who the Datadog monitors notify, e.g. @slack-llm-quality, @pagerduty-vote-extractor or "
        "@ada@example.org (repeatable; needed unless Terraform's datadog_notify is set)",
    )
    parser.add_argument("--build-dir", type=Path, default=DEFAULT_BUILD_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--terraform-dir", type=Path, default=TERRAFORM_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not _PROJECT.fullmatch(args.project):
        parser.error(
            f"--project {args.project!r} is not a Google Cloud project id "
            "(lowercase letters, digits or hyphens, starting with a letter, at most 30)"
        )
    if not _REGION.fullmatch(args.region):
        parser.error(f"--region {args.region!r} is not a Google Cloud region (like europe-west1 or us-central1)")
    if not _DD_SITE.fullmatch(args.dd_site):
        parser.error(f"--dd-site {args.dd_site!r} is not a Datadog site (like datadoghq.com or datadoghq.eu)")
    for member in args.console_invoker:
        if member in ("allUsers", "allAuthenticatedUsers"):
            parser.error(f"--console-invoker {member} would make the console public; name people or groups instead")
        if not _MEMBER.fullmatch(member):
            parser.error(
                f"--console-invoker {member!r} is not an IAM member "
                "(user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN)"
            )
    for value in args.datadog_notify:
        for handle in value.split() or [value]:
            if not _NOTIFY_HANDLE.fullmatch(handle):
                parser.error(
                    f"--datadog-notify {handle!r} is not a Datadog handle "
                    "(@slack-CHANNEL, @pagerduty-SERVICE, @EMAIL, ...)"
                )
    return args


def datadog_notify(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[str, str]:
    """Who the monitors notify and where that was found; ("", "") when nobody.

    `--datadog-notify` first, then what Terraform itself would use, in its own order: the last of
    the `.tfvars` files it loads by itself (terraform.tfvars, then *.auto.tfvars) that sets it,
    else TF_VAR_datadog_notify.
    """
    if args.datadog_notify:
        return " ".join(dict.fromkeys(" ".join(args.datadog_notify).split())), "--datadog-notify"
    found = None
    directory: Path = args.terraform_dir
    for path in [directory / "terraform.tfvars", *sorted(directory.glob("*.auto.tfvars"))]:
        try:
            matches = _TFVARS_NOTIFY.findall(path.read_text())
        except OSError:
            continue
        if matches:
            found = (matches[-1].strip(), str(path))
    if found is None and environ.get("TF_VAR_datadog_notify", "").strip():
        found = (environ["TF_VAR_datadog_notify"].strip(), "TF_VAR_datadog_notify")
    if found and found[0] and all(_NOTIFY_HANDLE.fullmatch(handle) for handle in found[0].split()):
        return found
    return "", ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    notify, notify_source = datadog_notify(args, os.environ)
    if not notify and not args.dry_run:
        # Before anything is staged or changed: a deploy whose alerts reach nobody is refused.
        print(f"error: {NOBODY_NOTIFIED}", file=sys.stderr)
        return 2
    catalog = load_catalog()
    staged: dict[str, Path] = {}
    unstaged: list[str] = []
    for spec in catalog.functions:
        try:
            staged[spec.name] = stage_function(spec, args.build_dir)
        except StagingError as error:
            unstaged.append(str(error))
    console_source = None
    try:
        console_source = stage_console(catalog.console, args.build_dir)
    except StagingError as error:
        unstaged.append(str(error))
    target = Target(
        project=args.project,
        region=args.region,
        dd_site=args.dd_site,
        staged_sources=staged,
        console_source=console_source,
        console_invokers=tuple(dict.fromkeys(args.console_invoker)),
    )
    secrets_in_env = [name for name in catalog.secrets if os.environ.get(name)]
    if args.dry_run:
        for problem in unstaged:
            print(f"warning: not staged, a real deploy would stop here: {problem}", file=sys.stderr)
        if not notify:
            print(f"warning: a real deploy would stop here: {NOBODY_NOTIFIED}", file=sys.stderr)
        print_plan(catalog, target, secrets_in_env, staged, unstaged, notify=notify, notify_source=notify_source)
        return 0
    if unstaged:
        print("error: cannot stage every function: " + "; ".join(unstaged), file=sys.stderr)
        return 1
    try:
        run_deploy(catalog, target, secrets_in_env, add_without_asking=args.add_secret_versions)
    except DeployError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if notify_source == "--datadog-notify":
        written = record_datadog_notify(args.terraform_dir, notify)
        print(
            f"==> the Datadog monitors notify {notify}: recorded in {written}, which terraform apply in "
            f"{args.terraform_dir} reads (run it if the monitors do not name them yet)"
        )
    else:
        print(f"==> the Datadog monitors notify {notify} ({notify_source})")
    print(
        f"==> deployed {len(catalog.functions)} functions and the console ({catalog.console.service}) "
        f"to {args.project} in {args.region}"
    )
    if not target.console_invokers:
        print(
            f"==> nobody may open the console yet: {catalog.console.invokers_deploy_option} user:EMAIL "
            f"(or Terraform's {catalog.console.invokers_terraform_variable}) grants it"
        )
    return 0


def record_datadog_notify(terraform_dir: Path, notify: str) -> Path:
    """Write `datadog_notify` where Terraform reads it by itself (git-ignored, as every .tfvars)."""
    path = terraform_dir / NOTIFY_TFVARS
    path.write_text(
        "# Written by ./deploy.sh deploy --datadog-notify: who the Datadog monitors notify.\n"
        f"datadog_notify = {json.dumps(notify)}\n"
    )
    return path


def print_plan(
    catalog: Catalog,
    target: Target,
    secrets_in_env: list[str],
    staged: dict[str, Path],
    unstaged: list[str],
    *,
    notify: str = "",
    notify_source: str = "",
) -> None:
    print("#!/usr/bin/env bash")
    print(f"# ./deploy.sh deploy --project {target.project} --region {target.region}: the commands, not run")
    print("set -euo pipefail")
    if notify:
        print(f"# the Datadog monitors notify {notify} ({notify_source})")
    else:
        print(f"# NOBODY NOTIFIED (a real deploy stops here): {NOBODY_NOTIFIED}")
    for name, path in staged.items():
        print(f"# staged {name}: {path}")
    if target.console_source is not None:
        print(f"# staged the console ({catalog.console.service}): {target.console_source}")
    for problem in unstaged:
        print(f"# NOT STAGED (a real deploy stops here): {problem}")
    if secrets_in_env:
        print(
            "# secrets set in your environment: deploy asks before adding each as a new version "
            "(--add-secret-versions: without asking); the value is piped, never printed"
        )
        for line in render_steps(secret_steps(catalog, target, secrets_in_env)):
            print(line)
    for line in render_steps(deploy_steps(catalog, target)):
        print(line)


def run_deploy(catalog: Catalog, target: Target, secrets_in_env: list[str], *, add_without_asking: bool) -> None:
    if shutil.which("gcloud") is None:
        raise DeployError(
            "gcloud is not on PATH: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) "
            "and run gcloud auth login"
        )
    if "API_KEYS" in secrets_in_env:
        from shared.api_keys import parse_api_keys

        try:  # production refuses the plain local form: every function would answer 500
            parse_api_keys(os.environ["API_KEYS"], plain_allowed=False)
        except ValueError as error:
            raise DeployError(str(error)) from None
    chosen = [name for name in secrets_in_env if add_without_asking or _confirm(name, catalog.secrets[name])]
    captured: dict[str, str] = {}
    for step in secret_steps(catalog, target, chosen) + deploy_steps(catalog, target):
        _run_step(step, captured)


def _confirm(env_name: str, secret: str) -> bool:
    if not sys.stdin.isatty():
        print(f"==> {env_name} is set; not adding it to {secret} (no terminal to ask; use --add-secret-versions)")
        return False
    answer = input(f"Add {env_name} from your environment as a new version of secret {secret}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _run_step(step: Step, captured: dict[str, str]) -> None:
    for line in render_steps([step]):
        print(f"+ {line}" if not line.startswith("#") else f"==> {line[2:]}")
    if isinstance(step, CreateOrUpdate):
        exists = _call(step.probe, captured, check=False, quiet=True) == 0
        _call(step.update if exists else step.create, captured)
    else:
        _call(step, captured)


def _call(command: Command, captured: dict[str, str], *, check: bool = True, quiet: bool = False) -> int:
    argv = resolve(command.argv, captured)
    stdin = None
    if command.stdin_from_env:
        stdin = os.environ[command.stdin_from_env].encode()
    done = subprocess.run(
        argv,
        input=stdin,
        stdout=subprocess.PIPE if command.capture or quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    if check and done.returncode != 0:
        raise DeployError(f"{argv[0]} {' '.join(argv[1:4])} ... failed (exit {done.returncode}); see its output above")
    if command.capture:
        value = done.stdout.decode().strip()
        if not value:
            raise DeployError(f"{' '.join(argv[:4])} ... printed nothing, so {command.capture} is unknown")
        captured[command.capture] = value
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
