# The names and grants Terraform creates, derived from infra/functions.json (the file
# ./deploy.sh deploy reads too). No provider and no resource: only for-expressions, so
# tests/deploy evaluates this module with `terraform console`, offline.

variable "catalog_json" {
  description = "The contents of infra/functions.json."
  type        = string
}

variable "project" {
  description = "Google Cloud project id; fills {project} in the bucket name and the console's env."
  type        = string
}

variable "region" {
  description = "Region; fills {region} in the console's env (API_BASE_URL)."
  type        = string
  default     = ""
}

variable "dd_site" {
  description = "Datadog site; fills {dd_site} in the console's env."
  type        = string
  default     = "datadoghq.com"
}

locals {
  catalog   = jsondecode(var.catalog_json)
  functions = { for f in local.catalog.functions : f.name => f }
  console   = local.catalog.console

  # One runtime service account per function, the console's, the scheduler's invoker, and the
  # build identity.
  service_accounts = merge(
    { for name, f in local.functions : name => {
      account_id   = f.service_account_id
      display_name = "vote-extractor ${name} (runtime)"
    } },
    {
      "scheduler-invoker" = {
        account_id   = local.catalog.scheduler.invoker_service_account_id
        display_name = "vote-extractor Cloud Scheduler invoker (OIDC)"
      }
      "build" = {
        account_id   = local.catalog.build_service_account_id
        display_name = "vote-extractor Cloud Functions builds"
      }
      "console" = {
        account_id   = local.console.service_account_id
        display_name = "vote-extractor console (Cloud Run runtime)"
      }
    },
  )

  # "account/ENV_VAR" => the secret that account's function (or the console) reads into that
  # variable; `function` is the key of its service account.
  secret_grants = merge(concat(
    [for name, f in local.functions : {
      for env_name in f.secrets : "${name}/${env_name}" => {
        function  = name
        secret_id = local.catalog.secrets[env_name]
      }
    }],
    [{
      for env_name, key in local.console.secrets : "console/${env_name}" => {
        function  = "console"
        secret_id = local.catalog.secrets[key]
      }
    }],
  )...)

  # The console's settings, placeholders filled (it is a client of the API: no grants besides
  # its own secret).
  console_env = { for name, template in local.console.env : name => replace(replace(replace(template,
    "{project}", var.project), "{region}", var.region), "{dd_site}", var.dd_site)
  }

  # "function/role" => project-level role (Firestore has no finer-grained IAM).
  project_role_grants = merge([for name, f in local.functions : {
    for role in f.project_roles : "${name}/${role}" => { function = name, role = role }
  }]...)

  # function => its role on the images bucket, only for functions that touch images.
  bucket_grants = { for name, f in local.functions : name => f.images_bucket_role if f.images_bucket_role != null }

  # "function/topic" => publisher on that topic.
  publisher_grants = merge([for name, f in local.functions : {
    for key in f.publishes_to : "${name}/${key}" => { function = name, topic = local.catalog.topics[key] }
  }]...)

  # Functions triggered by a topic: their own account is the Eventarc trigger identity.
  event_functions = { for name, f in local.functions : name => f if f.trigger == "topic" }
}

output "service_accounts" {
  value = local.service_accounts
}

output "secrets" {
  description = "env var => Secret Manager secret id"
  value       = local.catalog.secrets
}

output "secret_grants" {
  value = local.secret_grants
}

output "project_role_grants" {
  value = local.project_role_grants
}

output "bucket_grants" {
  value = local.bucket_grants
}

output "publisher_grants" {
  value = local.publisher_grants
}

output "event_functions" {
  value = { for name, f in local.event_functions : name => { topic = local.catalog.topics[f.topic] } }
}

output "topics" {
  value = local.catalog.topics
}

output "dead_letter" {
  value = {
    topic                 = local.catalog.topics[local.catalog.dead_letter.topic]
    subscription          = local.catalog.dead_letter.subscription
    max_delivery_attempts = local.catalog.dead_letter.max_delivery_attempts
  }
}

output "images_bucket" {
  value = replace(local.catalog.images_bucket, "{project}", var.project)
}

output "firestore_database" {
  value = local.catalog.firestore_database
}

output "ml_app" {
  value = local.catalog.ml_app
}

output "alerts" {
  value = local.catalog.alerts
}

output "artifact_repository" {
  value = local.catalog.artifact_repository
}

output "scheduler" {
  value = local.catalog.scheduler
}

output "console" {
  description = "The console's Cloud Run service: sizing, env (filled), secret_keys (env var => key of the secrets output)."
  value = {
    service          = local.console.service
    memory           = local.console.memory
    cpu              = local.console.cpu
    timeout_s        = local.console.timeout_s
    min_instances    = local.console.min_instances
    max_instances    = local.console.max_instances
    concurrency      = local.console.concurrency
    session_affinity = local.console.session_affinity
    image_repository = local.console.image_repository.id
    env              = local.console_env
    secret_keys      = local.console.secrets
  }
}
