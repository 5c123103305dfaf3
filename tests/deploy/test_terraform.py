"""infra/terraform parses, takes its names from infra/functions.json, and grants least privilege."""

from __future__ import annotations

import json
import re
import subprocess
import typing
from pathlib import Path
from typing import Any

import hcl2
import pytest

from infra.catalog import CATALOG_PATH, load_catalog
from tests.deploy.terraform_config import (
    CATALOG_MODULE,
    ROOT,
    TERRAFORM_DIR,
    evaluate_catalog,
    load_terraform,
    terraform_binary,
)

needs_terraform = pytest.mark.skipif(terraform_binary() is None, reason="terraform is not installed here")


@pytest.fixture(scope="module")
def config():
    return load_terraform()


def test_every_terraform_file_parses_and_the_catalog_module_reads_functions_json(config):
    catalog_module = load_terraform(CATALOG_MODULE)

    assert config.modules["catalog"]["source"] == "./modules/catalog"
    assert config.modules["catalog"]["catalog_json"] == '${file("${path.module}/../functions.json")}'
    assert "catalog_json" in catalog_module.variables and "project" in catalog_module.variables
    assert len(config.resources) >= 20


@needs_terraform
def test_the_catalog_module_derives_every_account_and_grant_from_functions_json(tmp_path):
    catalog = load_catalog()
    catalog_json = CATALOG_PATH.read_text()

    def evaluated(expression: str) -> Any:
        return evaluate_catalog(expression, project="p", catalog_json=catalog_json, workdir=tmp_path)

    accounts = evaluated("local.service_accounts")
    assert {name: account["account_id"] for name, account in accounts.items()} == {
        **{spec.name: spec.service_account_id for spec in catalog.functions},
        "scheduler-invoker": catalog.scheduler["invoker_service_account_id"],
        "build": catalog.build_service_account_id,
        "console": catalog.console.service_account_id,
    }
    assert evaluated("local.secret_grants") == {
        **{
            f"{spec.name}/{env_name}": {"function": spec.name, "secret_id": catalog.secrets[env_name]}
            for spec in catalog.functions
            for env_name in spec.secrets
        },
        "console/API_KEY": {"function": "console", "secret_id": "vote-extractor-console-api-key"},
    }
    assert evaluated("local.project_role_grants") == {
        f"{spec.name}/{role}": {"function": spec.name, "role": role}
        for spec in catalog.functions
        for role in spec.project_roles
    }
    assert evaluated("local.bucket_grants") == {
        spec.name: spec.images_bucket_role for spec in catalog.functions if spec.images_bucket_role
    }
    assert evaluated("local.publisher_grants") == {
        f"{spec.name}/{key}": {"function": spec.name, "topic": catalog.topics[key]}
        for spec in catalog.functions
        for key in spec.publishes_to
    }
    assert set(evaluated("local.event_functions")) == {s.name for s in catalog.functions if s.trigger == "topic"}
    assert evaluated('replace(local.catalog.images_bucket, "{project}", var.project)') == "p-vote-extractor-images"


def test_resources_iterate_over_the_catalog_so_no_function_is_left_without_its_account_or_secrets(config):
    wiring = {
        ("google_service_account", "this"): ("service_accounts", {"account_id": "${each.value.account_id}"}),
        ("google_secret_manager_secret", "this"): ("secrets", {"secret_id": "${each.value}"}),
        ("google_secret_manager_secret_iam_member", "accessors"): (
            "secret_grants",
            {
                "secret_id": "${each.value.secret_id}",
                "role": "roles/secretmanager.secretAccessor",
                "member": "serviceAccount:${google_service_account.this[each.value.function].email}",
            },
        ),
        ("google_project_iam_member", "function_roles"): (
            "project_role_grants",
            {
                "role": "${each.value.role}",
                "member": "serviceAccount:${google_service_account.this[each.value.function].email}",
            },
        ),
        ("google_storage_bucket_iam_member", "images"): (
            "bucket_grants",
            {"role": "${each.value}", "member": "serviceAccount:${google_service_account.this[each.key].email}"},
        ),
        ("google_pubsub_topic", "this"): ("topics", {"name": "${each.value}"}),
        ("google_pubsub_topic_iam_member", "publishers"): (
            "publisher_grants",
            {"topic": "${each.value.topic}", "role": "roles/pubsub.publisher"},
        ),
        ("google_service_account_iam_member", "pubsub_token_creator"): (
            "event_functions",
            {"role": "roles/iam.serviceAccountTokenCreator"},
        ),
        ("datadog_monitor", "alert_events"): ("alerts.kinds", {"type": "event-v2 alert"}),
    }
    for (kind, name), (output, attributes) in wiring.items():
        body = config.resources[(kind, name)]
        assert body["for_each"] == f"${{module.catalog.{output}}}", f"{kind}.{name} does not iterate the catalog"
        for attribute, expected in attributes.items():
            assert body[attribute] == expected, f"{kind}.{name}.{attribute}"


def test_every_catalog_output_a_resource_iterates_is_an_output_of_the_module():
    module_text = (CATALOG_MODULE / "main.tf").read_text()
    used = set()
    for path in TERRAFORM_DIR.glob("*.tf"):
        used |= set(re.findall(r"module\.catalog\.([a-z_]+)", path.read_text()))

    assert used, "the root module reads nothing from the catalog"
    for output in used:
        assert f'output "{output}"' in module_text, f"module.catalog.{output} is used but not an output"


def test_accounts_referenced_by_key_exist_in_the_catalog(config):
    catalog = load_catalog()
    account_keys = {spec.name for spec in catalog.functions} | {"scheduler-invoker", "build", "console"}
    text = "\n".join(path.read_text() for path in TERRAFORM_DIR.glob("*.tf"))

    for key in re.findall(r'google_service_account\.this\["([^"]+)"\]', text):
        assert key in account_keys, f'google_service_account.this["{key}"] is not an account of the catalog'


def test_no_primitive_roles_and_secrets_are_granted_per_secret_only(config):
    catalog = load_catalog()
    text = "\n".join(path.read_text() for path in TERRAFORM_DIR.glob("*.tf")) + CATALOG_PATH.read_text()

    for primitive in ("roles/owner", "roles/editor", "roles/viewer"):
        assert primitive not in text
    project_roles = {role for spec in catalog.functions for role in spec.project_roles}
    assert "roles/secretmanager.secretAccessor" not in project_roles
    assert {spec.name for spec in catalog.functions if "GEMINI_API_KEY" in spec.secrets} == {
        "extract",
        "experiments",
        "experiments-scheduled",
        "experiments-worker",
    }
    assert catalog.function("feedback").images_bucket_role is None
    assert {spec.name for spec in catalog.functions if spec.publishes_to} == {"experiments", "experiments-scheduled"}


def test_secret_values_never_live_in_terraform(config):
    assert not config.of_type("google_secret_manager_secret_version")
    for name in ("datadog_api_key", "datadog_app_key"):
        assert config.variables[name]["sensitive"] is True
        assert "default" not in config.variables[name]


def test_functions_and_the_scheduler_job_are_made_by_deploy_sh_only(config):
    made_by_gcloud = {"google_cloudfunctions2_function", "google_cloudfunctions_function", "google_cloud_scheduler_job"}

    assert not made_by_gcloud & {kind for kind, _ in config.resources}


def test_images_bucket_is_private_and_cleans_up_after_itself(config):
    bucket = config.resources[("google_storage_bucket", "images")]
    actions = {rule["action"][0]["type"] for rule in bucket["lifecycle_rule"]}

    assert bucket["name"] == "${module.catalog.images_bucket}"
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert {"AbortIncompleteMultipartUpload", "Delete"} <= actions
    assert bucket["soft_delete_policy"][0]["retention_duration_seconds"] == "${var.images_soft_delete_days * 86400}"


def test_firestore_recovers_any_minute_of_a_week_and_keeps_daily_backups(config):
    database = config.resources[("google_firestore_database", "main")]
    backups = config.resources[("google_firestore_backup_schedule", "daily")]

    assert database["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    assert backups["database"] == "${google_firestore_database.main.name}"
    assert backups["retention"] == "${var.firestore_backup_retention_days * 86400}s"
    assert "daily_recurrence" in backups


def test_function_images_live_in_a_repository_that_deletes_old_ones(config):
    repository = config.resources[("google_artifact_registry_repository", "functions")]
    actions = {policy["action"] for policy in repository["cleanup_policies"]}

    assert repository["repository_id"] == "${module.catalog.artifact_repository.id}"
    assert repository["format"] == "DOCKER" and repository["cleanup_policy_dry_run"] is False
    assert actions == {"KEEP", "DELETE"}
    console = config.resources[("google_artifact_registry_repository", "console")]
    assert console["repository_id"] == "${module.catalog.console.image_repository}"
    assert load_catalog().console.image_repository == "cloud-run-source-deploy", (
        "where gcloud run deploy --source pushes"
    )
    assert {policy["action"] for policy in console["cleanup_policies"]} == {"KEEP", "DELETE"}


def test_firestore_is_native_and_the_dead_letter_topic_is_held_and_forwardable(config):
    database = config.resources[("google_firestore_database", "main")]
    hold = config.resources[("google_pubsub_subscription", "dead_letter_hold")]
    forwarder = config.resources[("google_pubsub_topic_iam_member", "dead_letter_forwarder")]

    assert database["type"] == "FIRESTORE_NATIVE"
    assert hold["topic"] == "${module.catalog.dead_letter.topic}"
    assert forwarder["topic"] == "${module.catalog.dead_letter.topic}"
    assert forwarder["member"] == "${local.pubsub_service_agent}"


def test_required_apis_cover_every_service_the_deploy_uses(config):
    apis = set(config.locals["required_apis"])

    assert {
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "eventarc.googleapis.com",
        "pubsub.googleapis.com",
        "cloudscheduler.googleapis.com",
        "secretmanager.googleapis.com",
        "firestore.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
    } <= apis


def test_alert_log_metric_matches_the_line_the_app_logs(config):
    from shared.experiments.alerts import ALERT_LOG_EVENT

    catalog_alerts = json.loads(CATALOG_PATH.read_text())["alerts"]
    metric = config.resources[("google_logging_metric", "alerts")]
    policy = config.resources[("google_monitoring_alert_policy", "alerts")]
    threshold = policy["conditions"][0]["condition_threshold"][0]

    assert catalog_alerts["log_event"] == ALERT_LOG_EVENT
    assert metric["filter"] == 'jsonPayload.event="${module.catalog.alerts.log_event}"'
    assert metric["label_extractors"]["alert_kind"] == "EXTRACT(jsonPayload.alert_kind)"
    assert "logging.googleapis.com/user/${google_logging_metric.alerts.name}" in threshold["filter"]
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == 0


def test_a_datadog_monitor_fires_on_each_alert_kind_the_app_raises(config):
    from shared.models import AlertKind

    kinds = json.loads(CATALOG_PATH.read_text())["alerts"]["kinds"]
    monitor = config.resources[("datadog_monitor", "alert_events")]

    assert set(kinds) == set(typing.get_args(AlertKind))
    assert 'events("service:vote-extractor alert_kind:${each.key}")' in monitor["query"]
    assert monitor["query"].endswith("> 0")
    assert "${var.datadog_notify}" in monitor["message"]


def test_the_traffic_rate_alerts_are_the_kinds_the_app_raises_over_a_window(config):
    from shared.experiments.traffic_alerts import TRAFFIC_ALERT_KINDS

    monitor = config.resources[("datadog_monitor", "alert_events")]
    kinds = json.loads(CATALOG_PATH.read_text())["alerts"]["kinds"]

    assert config.locals["traffic_alert_kinds"] == list(TRAFFIC_ALERT_KINDS)
    assert set(TRAFFIC_ALERT_KINDS) <= set(kinds)
    assert "local.traffic_alert_evidence" in monitor["message"]
    assert "{{experiment.name}}" not in config.locals["traffic_alert_evidence"]


@needs_terraform
def test_terraform_files_are_formatted():
    done = subprocess.run(
        [terraform_binary() or "terraform", "fmt", "-check", "-recursive", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "CHECKPOINT_DISABLE": "1"},
        check=False,
    )

    assert done.returncode == 0, f"run terraform fmt -recursive infra/terraform; unformatted: {done.stdout}"


# --- the console (Cloud Run) ---------------------------------------------------------------


def test_terraform_declares_the_console_service_private_with_its_sizing_from_the_catalog(config):
    service = config.resources[("google_cloud_run_v2_service", "console")]
    template = service["template"][0]
    container = template["containers"][0]
    env_blocks = [block["env"] for block in container["dynamic"]]

    assert service["name"] == "${module.catalog.console.service}"
    assert service["ingress"] == "INGRESS_TRAFFIC_ALL"
    assert template["service_account"] == '${google_service_account.this["console"].email}'
    assert template["session_affinity"] == "${module.catalog.console.session_affinity}"
    assert template["timeout"] == "${module.catalog.console.timeout_s}s"
    assert template["max_instance_request_concurrency"] == "${module.catalog.console.concurrency}"
    assert template["scaling"][0] == {
        "min_instance_count": "${module.catalog.console.min_instances}",
        "max_instance_count": "${module.catalog.console.max_instances}",
    }
    assert container["resources"][0]["limits"] == {
        "memory": "${module.catalog.console.memory}",
        "cpu": "${module.catalog.console.cpu}",
    }
    assert [block["for_each"] for block in env_blocks] == [
        "${module.catalog.console.env}",
        "${module.catalog.console.secret_keys}",
    ]
    secret_ref = env_blocks[1]["content"][0]["value_source"][0]["secret_key_ref"][0]
    assert secret_ref == {"secret": "${google_secret_manager_secret.this[env.value].secret_id}", "version": "latest"}
    # gcloud run deploy --source replaces the placeholder image: Terraform must not put it back.
    assert container["image"] == "us-docker.pkg.dev/cloudrun/container/hello"
    ignored = service["lifecycle"][0]["ignore_changes"]
    assert {"client", "client_version", "${template[0].containers[0].image}", "${template[0].revision}"} <= set(ignored)


def test_only_the_members_terraform_is_given_may_open_the_console(config):
    invokers = config.of_type("google_cloud_run_v2_service_iam_member")
    variable = config.variables[load_catalog().console.invokers_terraform_variable]
    text = "\n".join(path.read_text() for path in TERRAFORM_DIR.glob("*.tf"))

    assert set(invokers) == {"console_invokers"}
    binding = invokers["console_invokers"]
    assert binding["for_each"] == "${toset(var.console_invokers)}"
    assert binding["role"] == "roles/run.invoker" and binding["member"] == "${each.value}"
    assert variable["default"] == [] and "allUsers" in variable["validation"][0]["condition"]
    assert not re.search(r'member\s*=\s*"all(Authenticated)?Users"', text), "nothing in Terraform is public"
    assert not config.of_type("google_cloud_run_v2_service_iam_binding")
    assert not config.of_type("google_cloud_run_v2_service_iam_policy")
    outputs = "\n".join(path.read_text() for path in TERRAFORM_DIR.glob("outputs.tf"))
    assert 'output "console_url"' in outputs and "google_cloud_run_v2_service.console.uri" in outputs


@needs_terraform
def test_the_console_account_reads_only_its_own_secret_and_has_no_other_grant(tmp_path):
    catalog_json = CATALOG_PATH.read_text()

    def evaluated(expression: str) -> Any:
        return evaluate_catalog(
            expression, project="p", region="europe-west1", catalog_json=catalog_json, workdir=tmp_path
        )

    grants = evaluated("local.secret_grants")
    console = evaluated("local.console_env")

    assert {key: grant for key, grant in grants.items() if grant["function"] == "console"} == {
        "console/API_KEY": {"function": "console", "secret_id": "vote-extractor-console-api-key"}
    }
    assert not [key for key in evaluated("local.project_role_grants") if key.startswith("console/")]
    assert "console" not in evaluated("local.bucket_grants")
    assert not [key for key in evaluated("local.publisher_grants") if key.startswith("console/")]
    # The same values the dry run passes to gcloud run deploy --set-env-vars.
    assert console == {
        "API_BASE_URL": "https://europe-west1-p.cloudfunctions.net",
        "DD_SITE": "datadoghq.com",
        "DD_ENV": "production",
    }


def test_the_console_service_account_gets_no_project_role_in_any_file(config):
    text = "\n".join(path.read_text() for path in TERRAFORM_DIR.glob("*.tf"))
    project_roles = config.of_type("google_project_iam_member")

    for name, body in project_roles.items():
        assert "console" not in body["member"], f"google_project_iam_member.{name} grants the console a project role"
    assert text.count('google_service_account.this["console"]') == 1, (
        "the console's account is used by its service only"
    )


# --- Datadog dashboards ---------------------------------------------------------------------


def _rendered_dashboards() -> dict[str, dict[str, Any]]:
    rendered = {}
    for path in sorted((TERRAFORM_DIR / "dashboards").glob("*.json.tftpl")):
        text = path.read_text().replace("${ml_app}", "vote-extractor")
        assert "${" not in text and "%{" not in text, f"{path.name} has a template expression Terraform would read"
        rendered[path.name.removesuffix(".json.tftpl")] = json.loads(text)
    return rendered


def _all_queries(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        query
        for widget in board["widgets"]
        for request in widget["definition"].get("requests", [])
        for query in request.get("queries", [])
    ]


def _queries(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The LLM Observability (event) queries: a search, a compute and a grouping each."""
    return [query for query in _all_queries(board) if query["data_source"] != "metrics"]


def _metric_queries(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [query for query in _all_queries(board) if query["data_source"] == "metrics"]


def test_dashboards_are_valid_json_and_terraform_manages_each_one(config):
    dashboards = _rendered_dashboards()
    managed = config.locals["dashboards"]

    assert set(dashboards) == {"quality", "feedback", "ragas", "experiments"}
    assert set(re.findall(r'"(\w+)"', managed)) == set(dashboards)
    for board in dashboards.values():
        assert board["title"].startswith("vote-extractor: ")
        assert board["layout_type"] == "ordered" and board["widgets"]


def test_dashboards_query_only_evaluation_labels_the_app_submits():
    source = "\n".join(path.read_text() for path in (ROOT / "shared").rglob("*.py"))
    labels = set()
    for board in _rendered_dashboards().values():
        text = json.dumps(board)
        labels |= set(re.findall(r"@evaluations\.custom\.([a-z0-9_]+)", text))

    assert labels
    for label in sorted(labels):
        assert f'"{label}"' in source, f"dashboards chart {label!r}, which nothing in shared/ submits"


def test_each_dashboard_shows_what_it_is_for():
    boards = _rendered_dashboards()

    def metrics(name: str) -> set[str]:
        return {q["compute"].get("metric", "") for q in _queries(boards[name])} | {
            q["search"]["query"] for q in _queries(boards[name])
        }

    def group_facets(name: str) -> set[str]:
        return {g["facet"] for q in _queries(boards[name]) for g in q["group_by"]}

    assert "@evaluations.custom.extraction_quality" in metrics("quality")
    assert "@evaluations.custom.vote_count_accuracy" in metrics("quality")
    assert any("user_feedback" in m for m in metrics("feedback"))
    assert "@evaluations.custom.user_quality_rating" in group_facets("feedback")
    assert "@evaluations.custom.ragas_faithfulness" in metrics("ragas")
    assert {"experiment", "variant"} <= group_facets("experiments")
    for name in ("quality", "feedback", "ragas"):
        assert all("@ml_app:vote-extractor" in q["search"]["query"] for q in _queries(boards[name]))


def test_quality_dashboard_graphs_the_accuracy_gauges_the_scheduled_tick_sends_per_form_type():
    from shared.services.production_accuracy_gauges import METRIC_PREFIX

    queries = _metric_queries(_rendered_dashboards()["quality"])
    graphed = {re.fullmatch(r"avg:([\w.]+)\{ml_app:vote-extractor\} by \{form_type\}", q["query"])[1] for q in queries}

    assert graphed == {METRIC_PREFIX + field for field in ("estimate", "ci_low", "ci_high")}
    for board in _rendered_dashboards().values():  # no other metric is graphed: nothing else sends one
        assert {q["query"] for q in _metric_queries(board)} <= {q["query"] for q in queries}


def _evaluation_metric_types() -> dict[str, str]:
    """Every evaluation label the app submits, with its metric type (the registry, and feedback's own)."""
    import shared.evaluation.cross_check
    import shared.evaluation.llm_judge
    import shared.evaluation.offline
    import shared.evaluation.online
    import shared.evaluation.ragas_metrics  # noqa: F401  (each module registers its evaluators)
    from shared.evaluation.registry import registered, registered_names

    types = {name: registered(name).metric_type for name in registered_names()}  # type: ignore[union-attr]
    feedback = (ROOT / "shared" / "services" / "feedback.py").read_text()
    for label, metric_type in re.findall(r'_evaluation\(\s*"([a-z_]+)",\s*"([a-z]+)"', feedback):
        types[label] = metric_type
    return types


def test_every_dashboard_passes_datadog_s_own_dashboard_model():
    from datadog_api_client.v1.model.dashboard import Dashboard

    from tests.deploy.datadog_models import unparsed_paths

    for name, board in _rendered_dashboards().items():
        assert unparsed_paths(Dashboard, board) == [], f"{name}: not a Datadog dashboard"


def test_no_dashboard_averages_a_boolean_or_categorical_evaluation():
    types = _evaluation_metric_types()
    assert types["consistency"] == "boolean" and types["user_feedback"] == "categorical"

    for name, board in _rendered_dashboards().items():
        for query in _queries(board):
            metric = query["compute"].get("metric", "")
            label = metric.removeprefix("@evaluations.custom.")
            if metric:
                assert types.get(label) == "score", (
                    f"{name}: {query['compute']['aggregation']} of {label} ({types.get(label)}): chart a "
                    "boolean or categorical evaluation as counts by value and a rate (failed / judged)"
                )


def test_each_boolean_evaluation_charted_is_counted_by_value_and_given_as_a_rate():
    types = _evaluation_metric_types()
    boards = _rendered_dashboards()
    queries = [query for board in boards.values() for query in _queries(board)]
    formulas = [
        (formula["formula"], {q["name"]: q["search"]["query"] for q in request["queries"] if "search" in q})
        for board in boards.values()
        for widget in board["widgets"]
        for request in widget["definition"].get("requests", [])
        for formula in request.get("formulas", [])
    ]
    charted = {
        label
        for query in queries
        for label in re.findall(r"@evaluations\.custom\.([a-z0-9_]+)", json.dumps(query))
        if types.get(label) in ("boolean", "categorical")
    }

    assert {"consistency", "figures_match_words", "schema_valid", "vote_count_exact", "ragas_exact_match"} <= charted
    for label in sorted(charted):
        facet = f"@evaluations.custom.{label}"
        assert any(
            query["compute"]["aggregation"] == "count" and facet in [g["facet"] for g in query["group_by"]]
            for query in queries
        ), f"{label}: no chart of counts by value"
        if types[label] != "boolean" and label != "user_feedback":
            continue  # a class (output_classification, golden_dataset_candidate) has no one failing value
        rates = [
            formula
            for formula, searches in formulas
            if (parts := re.fullmatch(r"(\w+) / (\w+)", formula))
            and re.search(rf"{facet}:(?!\*)\S+", searches.get(parts[1], ""))
            and f"{facet}:*" in searches.get(parts[2], "")
        ]
        assert rates, f"{label}: no rate (a count of one value / the count of all judged)"


def test_quality_dashboard_charts_the_rates_the_monitors_watch():
    searches = {q["search"]["query"] for q in _queries(_rendered_dashboards()["quality"])}

    for search in (
        "@evaluations.custom.cross_check:<1",
        "@evaluations.custom.cross_check:*",
        "@evaluations.custom.consistency:false",
        "@evaluations.custom.figures_match_words:false",
    ):
        assert f"@ml_app:vote-extractor {search}" in searches


# --- Datadog monitors ------------------------------------------------------------------------

NOTIFY_SAMPLE = "@slack-llm-quality @oncall@example.org"


def _render(text: str, values: dict[str, Any]) -> str:
    """Terraform's `${...}` interpolations of `text` replaced by `values` (repeated: values nest)."""
    for _ in range(5):
        text = re.sub(r"\$\{([^{}]+)\}", lambda match: str(values[match[1]]), text)
    assert "${" not in text, text
    return text


def _rendered_monitors(config) -> dict[str, dict[str, Any]]:
    """Each monitor as the Datadog API receives it, with the variables' defaults."""
    values: dict[str, Any] = {
        f"var.{name}": variable.get("default", NOTIFY_SAMPLE) for name, variable in config.variables.items()
    }
    values["module.catalog.ml_app"] = json.loads(CATALOG_PATH.read_text())["ml_app"]
    values["local.llmobs_app"] = _render(config.locals["llmobs_app"], values)
    monitors: dict[str, dict[str, Any]] = {}
    items: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for key, item in config.locals["evaluation_monitors"].items():
        items.append((key, config.resources[("datadog_monitor", "evaluations")], {"each.key": key} | {
            f"each.value.{field}": _render(value, values) for field, value in item.items()
        }))  # fmt: skip
    evidence = (
        "contains(local.traffic_alert_kinds, each.key) ? local.traffic_alert_evidence : local.experiment_alert_evidence"
    )
    for kind, title in json.loads(CATALOG_PATH.read_text())["alerts"]["kinds"].items():
        priority = 2 if kind in ("regression", "shard_failed") else 3
        scope = "traffic" if kind in config.locals["traffic_alert_kinds"] else "experiment"
        items.append((kind, config.resources[("datadog_monitor", "alert_events")], {
            "each.key": kind, "each.value": title,
            'contains(["regression", "shard_failed"], each.key) ? 2 : 3': priority,
            evidence: config.locals[f"{scope}_alert_evidence"],
        }))  # fmt: skip
    for key, body, each in items:
        scope = values | each
        message = body["message"].removeprefix("<<-EOT\n").removesuffix("EOT").rstrip()
        monitors[key] = {
            "name": _render(body["name"], scope),
            "type": body["type"],
            "query": _render(body["query"], scope),
            "message": _render(message, scope),
            "priority": int(_render(str(body["priority"]), scope)),
            "tags": [_render(tag, scope) for tag in body["tags"]],
            "options": {
                "thresholds": {"critical": float(_render(str(body["monitor_thresholds"][0]["critical"]), scope))},
                "notify_no_data": body["notify_no_data"],
                "require_full_window": body["require_full_window"],
                "include_tags": body["include_tags"],
            },
        }
    return monitors


def test_every_monitor_passes_datadog_s_own_monitor_model_and_notifies_someone(config):
    from datadog_api_client.v1.model.monitor import Monitor

    from tests.deploy.datadog_models import unparsed_paths

    monitors = _rendered_monitors(config)

    assert len(monitors) == 4 + len(json.loads(CATALOG_PATH.read_text())["alerts"]["kinds"])
    for key, monitor in monitors.items():
        assert unparsed_paths(Monitor, monitor) == [], f"{key}: not a Datadog monitor"
        assert monitor["message"].rstrip().endswith(NOTIFY_SAMPLE), f"{key} notifies no one"
        # Datadog refuses a monitor whose critical threshold differs from the query's.
        assert float(re.split(r" [<>]=? ", monitor["query"])[-1]) == monitor["options"]["thresholds"]["critical"]


def test_monitors_watch_each_rate_issue_25_names_with_thresholds_in_variables(config):
    monitors = _rendered_monitors(config)
    body = config.resources[("datadog_monitor", "evaluations")]
    search = re.compile(
        r'^llm-observability\("(?P<search>[^"]+)"\)\.rollup\((?P<rollup>[^)]+)\)\.last\("1h"\) (?P<op>[<>]) '
    )

    expected = {
        "cross_check_disagreements": ("@evaluations.custom.cross_check:<1", '"count"', ">", 5),
        "consistency_failures": ("@evaluations.custom.consistency:false", '"count"', ">", 5),
        "ragas_faithfulness": (
            "@evaluations.custom.ragas_faithfulness:*",
            '"avg", "@evaluations.custom.ragas_faithfulness"',
            "<",
            0.7,
        ),
        "thumbs_down": ("@evaluations.custom.user_feedback:thumbs_down", '"count"', ">", 3),
    }
    assert body["type"] == "llm-observability alert" and body["for_each"] == "${local.evaluation_monitors}"
    for key, (wanted, rollup, op, threshold) in expected.items():
        match = search.match(monitors[key]["query"])
        assert match, monitors[key]["query"]
        assert match["search"].startswith("@ml_app:vote-extractor ") and wanted in match["search"]
        assert (match["rollup"], match["op"], monitors[key]["options"]["thresholds"]["critical"]) == (
            rollup,
            op,
            threshold,
        )
        assert re.search(r"\$\{var\.\w+\}$", config.locals["evaluation_monitors"][key]["query"]), (
            "threshold in a variable"
        )
    assert "@evaluations.custom.figures_match_words:false" in monitors["consistency_failures"]["query"]
    # Evaluation failures never reach LLM Observability (the sink sends successful evaluations only):
    # the app's own rate, posted as an event, is what a monitor watches.
    assert 'alert_kind:evaluation_failure_rate")' in monitors["evaluation_failure_rate"]["query"]


@needs_terraform
@pytest.mark.parametrize(
    ("notify", "accepted"),
    [
        ("", False),
        ("   ", False),
        ("slack-llm-quality", False),
        ("@slack-llm-quality nobody", False),
        ("@", False),
        ("@slack-${var.region}", False),
        ('@slack-"x"', False),
        ("@slack-llm-quality", True),
        ("@slack-llm-quality  @pagerduty-vote-extractor @ada@example.org", True),
    ],
)
def test_terraform_refuses_monitors_that_notify_no_one_as_the_deploy_does(tmp_path, notify, accepted):
    from infra.deploy import _NOTIFY_HANDLE

    text = (TERRAFORM_DIR / "variables.tf").read_text()
    block = text[text.index('variable "datadog_notify"') : text.index('variable "evaluation_monitor_window"')]
    (tmp_path / "main.tf").write_text(block)

    done = subprocess.run(
        [terraform_binary() or "terraform", "console", "-var", f"datadog_notify={notify}"],
        input="var.datadog_notify\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"},
    )

    # terraform console reports a failed validation and still exits 0: read what it printed.
    printed = re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m|│", "", done.stdout + done.stderr))
    assert ("The Datadog monitors would notify no one" not in printed) == accepted, printed
    words = notify.split()
    assert (bool(words) and all(_NOTIFY_HANDLE.fullmatch(word) for word in words)) == accepted, "deploy disagrees"


def test_the_tfvars_example_sets_only_declared_variables_and_notifies_someone(config):
    from infra.deploy import _NOTIFY_HANDLE

    with (TERRAFORM_DIR / "terraform.tfvars.example").open() as handle:
        example = _plain_tfvars(hcl2.load(handle))

    assert set(example) <= set(config.variables), set(example) - set(config.variables)
    assert all(_NOTIFY_HANDLE.fullmatch(word) for word in example["datadog_notify"].split())
    for name in ("max_cross_check_disagreements", "max_consistency_failures", "max_thumbs_down"):
        assert example[name] == config.variables[name]["default"]
    assert example["min_ragas_faithfulness"] == config.variables["min_ragas_faithfulness"]["default"] == 0.7


def _plain_tfvars(parsed: dict[str, Any]) -> dict[str, Any]:
    from tests.deploy.terraform_config import plain

    return {key: plain(value) for key, value in parsed.items() if not key.startswith("__")}
