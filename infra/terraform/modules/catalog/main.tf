# The names and grants Terraform creates, derived from infra/functions.json (the file
# ./deploy.sh deploy reads too). No provider and no resource: only for-expressions, so
# tests/deploy evaluates this module with `terraform console`, offline.

variable "catalog_json" {
  description = "The contents of infra/functions.json."
  type        = string
}

variable "project" {
  description = "Google Cloud project id; fills {project} in the bucket name."
  type        = string
}

locals {
  catalog   = jsondecode(var.catalog_json)
  functions = { for f in local.catalog.functions : f.name => f }

  # One runtime service account per function, the scheduler's invoker, and the build identity.
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
    },
  )

  # "function/ENV_VAR" => the secret that function reads into that variable.
  secret_grants = merge([for name, f in local.functions : {
    for env_name in f.secrets : "${name}/${env_name}" => {
      function  = name
      secret_id = local.catalog.secrets[env_name]
    }
  }]...)

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
