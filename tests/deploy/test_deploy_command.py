"""`./deploy.sh deploy`: the dry run prints every command and no secret; the real run calls them.

The real run is exercised against a stand-in gcloud (tests/deploy/fake_gcloud.py) that records
each call, so the commands, their order and what reaches gcloud's stdin are checked offline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.catalog import load_catalog
from tests.deploy import fake_gcloud

ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUES = {
    "DD_API_KEY": "dd-secret-4f9a0c7e1b2d4e6f8a9b",
    "GEMINI_API_KEY": "gem-secret-77c1d2e3f4a5b6c7d8e9",
    # Named keys by digest (the console's key among them): production refuses the plain form.
    "API_KEYS": '{"console": {"sha256": "' + hashlib.sha256(b"console-key-3b4c5d6e7f8a9b0c").hexdigest() + '", '
    '"scopes": ["write", "review", "feedback"], "delegates": true}}',
    "CONSOLE_API_KEY": "console-key-3b4c5d6e7f8a9b0c",
}
BASH = shutil.which("bash") or "/bin/bash"
SCHEDULED_URL = f"https://experiments-scheduled-{fake_gcloud.PROJECT_NUMBER}.europe-west1.run.app"
NOTIFY = "@slack-deploy-tests"


def notified(tmp_path: Path, handle: str = NOTIFY) -> tuple[str, ...]:
    """Who the monitors notify, and a Terraform folder of the test's own (the deploy writes there)."""
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir(exist_ok=True)
    return ("--datadog-notify", handle, "--terraform-dir", str(terraform_dir))


def _environment(extra: dict[str, str] | None = None, path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VALUES and k != "TF_VAR_datadog_notify"}
    if path is not None:
        env["PATH"] = path
    return env | (extra or {})


def deploy(*args: str, env: dict[str, str] | None = None, path: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BASH, str(ROOT / "deploy.sh"), "deploy", *args],
        cwd=ROOT,
        env=_environment(env, path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dry_run(build_dir: Path, env: dict[str, str] | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
    done = deploy(
        "--project", "p", "--region", "europe-west1", "--dry-run", "--build-dir", str(build_dir), *extra, env=env
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def commands(script: str) -> list[list[str]]:
    """The script's commands as argument lists (continuations joined, comments and shell syntax skipped)."""
    joined = script.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith(("if ", "else", "fi", "#", "set ")):
            line = line.removeprefix("if ").split(" >/dev/null")[0] if line.startswith("if ") else ""
        line = re.sub(r"^[A-Z_]+=\$\((.*)\)$", r"\1", line)
        line = line.split("| ", 1)[1] if line.startswith("printf ") else line
        if line.startswith("gcloud "):
            found.append(shlex.split(line))
    return found


def flag(argv: list[str], name: str) -> str:
    values = [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{name}=")]
    assert len(values) == 1, f"{name} given {len(values)} times in {argv[:4]}"
    return values[0]


def test_dry_run_prints_one_gcloud_functions_deploy_per_function(tmp_path):
    catalog = load_catalog()

    script = dry_run(tmp_path, env=SECRET_VALUES).stdout
    deploys = {argv[3]: argv for argv in commands(script) if argv[1:3] == ["functions", "deploy"]}

    assert len([argv for argv in commands(script) if argv[1:3] == ["functions", "deploy"]]) == len(catalog.functions)
    assert set(deploys) == {spec.name for spec in catalog.functions}
    for spec in catalog.functions:
        argv = deploys[spec.name]
        assert "--gen2" in argv and "--quiet" in argv
        assert flag(argv, "--runtime") == "python311"
        assert flag(argv, "--entry-point") == spec.entry_point
        assert flag(argv, "--project") == "p" and flag(argv, "--region") == "europe-west1"
        assert flag(argv, "--source") == str(tmp_path / spec.name)
        assert flag(argv, "--service-account") == f"{spec.service_account_id}@p.iam.gserviceaccount.com"
        assert flag(argv, "--min-instances") == "0"
        assert flag(argv, "--docker-repository") == (
            f"projects/p/locations/europe-west1/repositories/{catalog.artifact_repository}"
        )
        assert flag(argv, "--timeout") == f"{spec.timeout_s}s"
        secrets = dict(item.split("=", 1) for item in flag(argv, "--set-secrets").split(","))
        assert secrets == {env_name: f"{catalog.secrets[env_name]}:latest" for env_name in spec.secrets}
        env = dict(item.split("=", 1) for item in flag(argv, "--set-env-vars").split(","))
        assert env["ENVIRONMENT"] == "production" and env["DD_LLMOBS_AGENTLESS_ENABLED"] == "1"
        assert env["DD_SERVICE"].startswith("vote-extractor") and not set(env) & set(SECRET_VALUES)
    assert "--trigger-http" in deploys["extract"] and "--allow-unauthenticated" in deploys["extract"]
    assert "--no-allow-unauthenticated" in deploys["experiments-scheduled"]
    worker = deploys["experiments-worker"]
    assert flag(worker, "--trigger-topic") == "experiment-shards" and "--retry" in worker
    assert flag(worker, "--trigger-service-account") == "vx-experiments-worker@p.iam.gserviceaccount.com"


def test_dry_run_schedules_the_scheduled_function_with_an_oidc_token_for_its_url(tmp_path):
    script = dry_run(tmp_path).stdout
    argvs = commands(script)
    jobs = [argv for argv in argvs if argv[1:3] == ["scheduler", "jobs"] and argv[3] in ("create", "update")]
    deploy_scheduled = next(a for a in argvs if a[1:4] == ["functions", "deploy", "experiments-scheduled"])
    audience_env = dict(i.split("=", 1) for i in flag(deploy_scheduled, "--set-env-vars").split(","))
    invoker = [a for a in argvs if a[1:4] == ["functions", "add-invoker-policy-binding", "experiments-scheduled"]]

    assert {argv[3] for argv in jobs} == {"create", "update"}
    for job in jobs:
        assert job[5] == "vote-extractor-experiments-scheduled"
        assert flag(job, "--schedule") == "0 * * * *"
        assert flag(job, "--oidc-service-account-email") == "vx-scheduler-invoker@p.iam.gserviceaccount.com"
        assert flag(job, "--uri") == flag(job, "--oidc-token-audience")
        assert flag(job, "--uri") == "https://experiments-scheduled-${PROJECT_NUMBER}.europe-west1.run.app"
    assert audience_env["SCHEDULER_AUDIENCE"] == flag(jobs[0], "--oidc-token-audience")
    assert audience_env["SCHEDULER_SERVICE_ACCOUNT"] == "vx-scheduler-invoker@p.iam.gserviceaccount.com"
    assert flag(invoker[0], "--member") == "serviceAccount:vx-scheduler-invoker@p.iam.gserviceaccount.com"


def test_dry_run_deploys_the_console_once_to_cloud_run_privately_from_its_staged_source(tmp_path):
    catalog = load_catalog()
    console = catalog.console

    script = dry_run(tmp_path, env=SECRET_VALUES).stdout
    argvs = commands(script)
    run_deploys = [argv for argv in argvs if argv[1:3] == ["run", "deploy"]]

    assert len(run_deploys) == 1
    argv = run_deploys[0]
    assert argv[3] == "vote-extractor-console" == console.service
    assert "--no-allow-unauthenticated" in argv and "--allow-unauthenticated" not in argv
    assert "--session-affinity" in argv and "--quiet" in argv
    assert flag(argv, "--source") == str(tmp_path / "console")
    assert (tmp_path / "console" / "app.py").is_file() and (tmp_path / "console" / "Dockerfile").is_file()
    assert flag(argv, "--project") == "p" and flag(argv, "--region") == "europe-west1"
    assert flag(argv, "--service-account") == "vx-console@p.iam.gserviceaccount.com"
    assert flag(argv, "--timeout") == "3600s" and flag(argv, "--min-instances") == "0"
    assert flag(argv, "--max-instances") == str(console.max_instances)
    assert flag(argv, "--concurrency") == str(console.concurrency)
    assert flag(argv, "--memory") == console.memory and flag(argv, "--cpu") == console.cpu
    assert flag(argv, "--set-secrets") == "API_KEY=vote-extractor-console-api-key:latest"
    env = dict(item.split("=", 1) for item in flag(argv, "--set-env-vars").split(","))
    assert env["API_BASE_URL"] == "https://europe-west1-p.cloudfunctions.net"
    assert not set(env) & ({"API_KEY"} | set(SECRET_VALUES))
    assert argvs.index(argv) > max(i for i, a in enumerate(argvs) if a[1:3] == ["functions", "deploy"])
    assert not [a for a in argvs if a[1:4] == ["run", "services", "add-iam-policy-binding"]], "nobody by default"
    assert "allUsers" not in script and "allAuthenticatedUsers" not in script


def test_dry_run_grants_the_console_only_to_the_members_given(tmp_path):
    members = ["user:ada@example.org", "group:reviewers@example.org"]
    option = load_catalog().console.invokers_deploy_option  # the catalog names the option the README shows

    script = dry_run(tmp_path, None, option, members[0], option, members[1], option, members[0]).stdout
    bindings = [a for a in commands(script) if a[1:4] == ["run", "services", "add-iam-policy-binding"]]

    assert [flag(a, "--member") for a in bindings] == members
    for binding in bindings:
        assert binding[4] == "vote-extractor-console"
        assert flag(binding, "--role") == "roles/run.invoker"
        assert flag(binding, "--region") == "europe-west1" and flag(binding, "--project") == "p"


def test_dry_run_shows_secrets_by_reference_and_never_their_values(tmp_path):
    done = dry_run(tmp_path, env=SECRET_VALUES)
    output = done.stdout + done.stderr

    for value in SECRET_VALUES.values():
        for part in value.split(","):
            assert part not in output
    assert "printf '%s' \"$DD_API_KEY\" | gcloud secrets versions add vote-extractor-dd-api-key" in output
    assert "printf '%s' \"$API_KEYS\" | gcloud secrets versions add vote-extractor-api-keys" in output
    assert "printf '%s' \"$CONSOLE_API_KEY\" | gcloud secrets versions add vote-extractor-console-api-key" in output


def test_dry_run_with_one_letter_secrets_prints_neither_letter_as_a_value(tmp_path):
    done = dry_run(tmp_path, env={"DD_API_KEY": "x", "GEMINI_API_KEY": "y"})
    output = done.stdout + done.stderr

    for value in ("x", "y"):
        assert not re.search(rf"(?<![\w.-]){value}(?![\w.-])", output), f"{value!r} stands alone in the output"
    assert '"$DD_API_KEY"' in output and '"$GEMINI_API_KEY"' in output
    assert "API_KEYS" not in re.findall(r'"\$(\w+)" \|', output)


def test_dry_run_is_a_valid_bash_script(tmp_path):
    script = dry_run(tmp_path, env=SECRET_VALUES).stdout

    done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert script.startswith("#!/usr/bin/env bash\n")


def test_dry_run_needs_only_the_standard_library(tmp_path):
    # -S: no site-packages, so an import of anything outside the standard library fails.
    done = subprocess.run(
        [sys.executable, "-S", "-m", "infra.deploy", "--project", "p", "--region", "europe-west1", "--dry-run",
         "--build-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("gcloud functions deploy") == len(load_catalog().functions)


def test_the_printed_script_runs_and_pipes_each_secret_to_gcloud(tmp_path):
    log = fake_gcloud.install(tmp_path / "bin")
    script = dry_run(tmp_path / "build", env=SECRET_VALUES).stdout

    done = subprocess.run(
        ["bash", "-c", script],
        env=_environment(SECRET_VALUES | {"FAKE_GCLOUD_LOG": str(log)}, f"{tmp_path / 'bin'}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    recorded = fake_gcloud.calls(log)
    added = {c["args"][3]: c["stdin"] for c in recorded if c["args"][:3] == ["secrets", "versions", "add"]}
    assert added == {load_catalog().secrets[name]: value for name, value in SECRET_VALUES.items()}
    _assert_wired(recorded, expect_job="create")


def test_deploy_calls_gcloud_itself_in_order_and_updates_an_existing_job(tmp_path):
    log = fake_gcloud.install(tmp_path / "bin")

    done = deploy(
        "--project", "p", "--region", "europe-west1", "--build-dir", str(tmp_path / "build"), "--add-secret-versions",
        *notified(tmp_path),
        env=SECRET_VALUES | {"FAKE_GCLOUD_LOG": str(log), "FAKE_SCHEDULER_JOB_EXISTS": "1"},
        path=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    recorded = fake_gcloud.calls(log)
    piped = [c["stdin"] for c in recorded if c["args"][:2] == ["secrets", "versions"]]
    assert piped == [SECRET_VALUES[name] for name in load_catalog().secrets]
    for value in SECRET_VALUES.values():
        assert value.split(",")[0] not in done.stdout + done.stderr
    _assert_wired(recorded, expect_job="update")
    assert "deployed 6 functions and the console (vote-extractor-console) to p in europe-west1" in done.stdout
    assert "nobody may open the console yet: --console-invoker user:EMAIL" in done.stdout


def test_deploy_without_a_terminal_adds_no_secret_version_unless_told(tmp_path):
    log = fake_gcloud.install(tmp_path / "bin")

    done = deploy(
        "--project", "p", "--region", "europe-west1", "--build-dir", str(tmp_path / "build"), *notified(tmp_path),
        env={"DD_API_KEY": SECRET_VALUES["DD_API_KEY"], "FAKE_GCLOUD_LOG": str(log)},
        path=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert not [c for c in fake_gcloud.calls(log) if c["args"][:1] == ["secrets"]]
    assert "DD_API_KEY is set; not adding it" in done.stdout


def test_deploy_refuses_a_plain_api_keys_secret_before_adding_anything(tmp_path):
    log = fake_gcloud.install(tmp_path / "bin")

    done = deploy(
        "--project", "p", "--region", "europe-west1", "--build-dir", str(tmp_path / "build"), "--add-secret-versions",
        *notified(tmp_path),
        env={"API_KEYS": "apikey-one-5e6f7a8b,apikey-two-9c0d1e2f", "FAKE_GCLOUD_LOG": str(log)},
        path=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    )  # fmt: skip

    assert done.returncode == 1
    assert "API_KEYS is a plain list of keys, which only ENVIRONMENT=local accepts" in done.stderr
    assert "apikey-one" not in done.stdout + done.stderr
    assert not fake_gcloud.calls(log)


def test_deploy_without_gcloud_says_how_to_get_it(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    (bin_dir / "python3").symlink_to(Path(sys.executable).resolve())

    done = deploy(
        "--project", "p", "--region", "europe-west1", "--build-dir", str(tmp_path / "b"), *notified(tmp_path),
        path=str(bin_dir),
    )  # fmt: skip

    assert done.returncode == 1
    assert "gcloud is not on PATH" in done.stderr and "install the Google Cloud CLI" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required: --project, --region"),
        (("--project", "p"), "the following arguments are required: --region"),
        (("--project", "My_Project", "--region", "europe-west1"), "--project 'My_Project' is not a Google Cloud"),
        (("--project", "p", "--region", "Europe West"), "--region 'Europe West' is not a Google Cloud region"),
        (("--project", "p", "--region", "europe-west1", "--dd-site", "not a site"), "is not a Datadog site"),
        (("--project", "p", "--region", "europe-west1", "--colour", "red"), "unrecognized arguments: --colour"),
        (
            ("--project", "p", "--region", "europe-west1", "--console-invoker", "allUsers"),
            "--console-invoker allUsers would make the console public",
        ),
        (
            ("--project", "p", "--region", "europe-west1", "--console-invoker", "ada@example.org"),
            "--console-invoker 'ada@example.org' is not an IAM member",
        ),
    ],
)
def test_bad_arguments_stop_with_a_clear_message(args, message, tmp_path):
    done = deploy(*args, "--dry-run", "--build-dir", str(tmp_path))

    assert done.returncode == 2
    assert message in done.stderr
    assert "gcloud functions deploy" not in done.stdout


def test_help_lists_deploy_and_the_other_commands_still_work():
    done = subprocess.run(["bash", str(ROOT / "deploy.sh"), "help"], capture_output=True, text=True, timeout=30)

    assert done.returncode == 0
    for command in ("./deploy.sh local", "./deploy.sh test", "./deploy.sh deploy --project P --region R"):
        assert command in done.stdout
    assert "not implemented" not in done.stdout


def _assert_wired(recorded: list[dict], *, expect_job: str) -> None:
    argvs = [c["args"] for c in recorded]
    deployed = [a[2] for a in argvs if a[:2] == ["functions", "deploy"]]
    assert deployed == [spec.name for spec in load_catalog().functions]
    dead_letter = next(a for a in argvs if a[:3] == ["pubsub", "subscriptions", "update"])
    assert dead_letter[3] == fake_gcloud.SUBSCRIPTION
    assert "--dead-letter-topic=experiment-shards-dead-letter" in dead_letter
    agent = f"--member=serviceAccount:service-{fake_gcloud.PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert agent in next(a for a in argvs if a[:3] == ["pubsub", "subscriptions", "add-iam-policy-binding"])
    job = next(a for a in argvs if a[:2] == ["scheduler", "jobs"] and a[2] in ("create", "update"))
    assert job[2] == expect_job
    assert f"--uri={SCHEDULED_URL}" in job and f"--oidc-token-audience={SCHEDULED_URL}" in job
    scheduled = next(a for a in argvs if a[:3] == ["functions", "deploy", "experiments-scheduled"])
    assert f"SCHEDULER_AUDIENCE={SCHEDULED_URL}" in next(x for x in scheduled if x.startswith("--set-env-vars="))
    assert argvs.index(scheduled) < argvs.index(job), "the job must come after the function it calls"
    console = [a for a in argvs if a[:2] == ["run", "deploy"]]
    assert len(console) == 1 and console[0][2] == "vote-extractor-console"
    assert "--no-allow-unauthenticated" in console[0]
    staged = Path(next(x for x in console[0] if x.startswith("--source=")).split("=", 1)[1])
    assert (staged / "app.py").is_file() and (staged / "shared" / "models.py").is_file()
    assert not [a for a in argvs if a[:3] == ["run", "services", "add-iam-policy-binding"]]


def test_dry_run_says_no_function_works_after_its_response(tmp_path):
    # Cloud Functions gives an instance CPU only while it serves a request or event: each
    # function's deploy note must say it leaves nothing running after answering.
    script = dry_run(tmp_path, env=SECRET_VALUES).stdout

    notes = [line for line in script.splitlines() if line.startswith("# function ")]

    assert len(notes) == len(load_catalog().functions)
    assert all(note.endswith("after its response: nothing)") for note in notes), notes


# --- who the Datadog monitors notify ---------------------------------------------------------


def _real_deploy(
    tmp_path: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    log = fake_gcloud.install(tmp_path / "bin")
    done = deploy(
        "--project", "p", "--region", "europe-west1", "--build-dir", str(tmp_path / "build"), *extra,
        env={"FAKE_GCLOUD_LOG": str(log)} | (env or {}),
        path=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
    )  # fmt: skip
    return done, log


def test_deploy_refuses_monitors_that_notify_no_one_before_anything_is_changed(tmp_path):
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()

    done, log = _real_deploy(tmp_path, "--terraform-dir", str(terraform_dir))

    assert done.returncode == 2
    assert "the Datadog monitors would notify no one" in done.stderr
    assert "--datadog-notify" in done.stderr and "datadog_notify in infra/terraform/terraform.tfvars" in done.stderr
    assert not fake_gcloud.calls(log), "gcloud was called"
    assert not (tmp_path / "build").exists(), "something was staged"
    assert not list(terraform_dir.iterdir())


@pytest.mark.parametrize(
    "tfvars",
    [
        'datadog_notify = ""\n',
        'datadog_notify = "   "\n',
        'datadog_notify = "slack-llm-quality"\n',  # no @: Datadog would read it as text, notifying no one
        '# datadog_notify = "@slack-commented-out"\nregion = "europe-west1"\n',
    ],
)
def test_deploy_refuses_a_tfvars_datadog_notify_that_names_no_handle(tmp_path, tfvars):
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()
    (terraform_dir / "terraform.tfvars").write_text(tfvars)

    done, log = _real_deploy(tmp_path, "--terraform-dir", str(terraform_dir))

    assert done.returncode == 2, done.stdout
    assert "the Datadog monitors would notify no one" in done.stderr
    assert not fake_gcloud.calls(log)


def test_deploy_accepts_who_terraform_already_notifies(tmp_path):
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()
    (terraform_dir / "terraform.tfvars").write_text(
        'project = "p"\ndatadog_notify  = "@slack-llm-quality @ada@example.org"\n'
    )

    done, log = _real_deploy(tmp_path, "--terraform-dir", str(terraform_dir))

    assert done.returncode == 0, done.stderr
    assert "the Datadog monitors notify @slack-llm-quality @ada@example.org" in done.stdout
    assert fake_gcloud.calls(log)
    assert not (terraform_dir / "datadog_notify.auto.tfvars").exists(), "nothing to record: Terraform has it"


def test_deploy_accepts_tf_var_datadog_notify_as_terraform_would(tmp_path):
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()

    done, _ = _real_deploy(
        tmp_path, "--terraform-dir", str(terraform_dir), env={"TF_VAR_datadog_notify": "@pagerduty-vote-extractor"}
    )

    assert done.returncode == 0, done.stderr
    assert "the Datadog monitors notify @pagerduty-vote-extractor (TF_VAR_datadog_notify)" in done.stdout


def test_datadog_notify_flag_is_recorded_where_terraform_reads_it(tmp_path):
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()
    (terraform_dir / "terraform.tfvars").write_text('datadog_notify = ""\n')

    done, log = _real_deploy(
        tmp_path, "--terraform-dir", str(terraform_dir),
        "--datadog-notify", "@slack-llm-quality", "--datadog-notify", "@pagerduty-y @ada@example.org",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert fake_gcloud.calls(log)
    recorded = (terraform_dir / "datadog_notify.auto.tfvars").read_text()
    assert 'datadog_notify = "@slack-llm-quality @pagerduty-y @ada@example.org"' in recorded
    assert "the Datadog monitors notify @slack-llm-quality @pagerduty-y @ada@example.org" in done.stdout
    # *.auto.tfvars is read after terraform.tfvars, so the recorded handles win; .gitignore keeps it out of git.
    assert "*.tfvars" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("handle", ["slack-llm-quality", "ada@example.org", "", "@", '@slack-"x"', "@slack-${x}"])
def test_a_datadog_notify_that_is_no_handle_stops_with_a_clear_message(tmp_path, handle):
    done = deploy("--project", "p", "--region", "europe-west1", "--dry-run", "--build-dir", str(tmp_path),
                  "--datadog-notify", handle)  # fmt: skip

    assert done.returncode == 2
    assert "is not a Datadog handle" in done.stderr


def test_dry_run_says_who_the_monitors_notify_or_that_a_deploy_would_stop(tmp_path):
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()

    nobody = dry_run(tmp_path / "a", None, "--terraform-dir", str(terraform_dir))
    somebody = dry_run(tmp_path / "b", None, *notified(tmp_path, "@slack-llm-quality"))

    assert "# NOBODY NOTIFIED (a real deploy stops here)" in nobody.stdout
    assert "a real deploy would stop here: the Datadog monitors would notify no one" in nobody.stderr
    assert "# the Datadog monitors notify @slack-llm-quality (--datadog-notify)" in somebody.stdout
    assert not (terraform_dir / "datadog_notify.auto.tfvars").exists(), "a dry run writes nothing"
