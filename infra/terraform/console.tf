# The console (frontend/streamlit) on Cloud Run: a service, not a function, because Streamlit
# keeps a websocket open per browser tab. Terraform declares the service, its identity, sizing,
# settings and who may open it; ./deploy.sh deploy builds and deploys the image from source
# (gcloud run deploy --source), so what that changes is ignored here. Private: ingress is open
# so a browser (through `gcloud run services proxy` or IAP) can reach it, but Cloud Run admits
# only callers with roles/run.invoker, and only var.console_invokers get it.
#
# On a new project the revision reads API_KEY from its secret, which needs a version first:
#   terraform apply -target=google_secret_manager_secret.this   (then add the values, then apply)

resource "google_cloud_run_v2_service" "console" {
  project  = var.project
  location = var.region
  name     = module.catalog.console.service
  ingress  = "INGRESS_TRAFFIC_ALL"

  # The console keeps no data: it can be destroyed and made again.
  deletion_protection = false

  template {
    service_account                  = google_service_account.this["console"].email
    session_affinity                 = module.catalog.console.session_affinity
    timeout                          = "${module.catalog.console.timeout_s}s"
    max_instance_request_concurrency = module.catalog.console.concurrency

    scaling {
      min_instance_count = module.catalog.console.min_instances
      max_instance_count = module.catalog.console.max_instances
    }

    containers {
      # A placeholder until ./deploy.sh deploy builds the console from source.
      image = "us-docker.pkg.dev/cloudrun/container/hello"

      resources {
        limits = {
          memory = module.catalog.console.memory
          cpu    = module.catalog.console.cpu
        }
        cpu_idle = true
      }

      dynamic "env" {
        for_each = module.catalog.console.env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = module.catalog.console.secret_keys
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.this[env.value].secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  lifecycle {
    # What `gcloud run deploy --source` sets on every release.
    ignore_changes = [
      client,
      client_version,
      annotations,
      labels,
      template[0].revision,
      template[0].annotations,
      template[0].labels,
      template[0].containers[0].image,
    ]
  }

  depends_on = [
    google_project_service.required,
    google_secret_manager_secret_iam_member.accessors,
    google_artifact_registry_repository.console,
  ]
}

resource "google_cloud_run_v2_service_iam_member" "console_invokers" {
  for_each = toset(var.console_invokers)

  project  = var.project
  location = google_cloud_run_v2_service.console.location
  name     = google_cloud_run_v2_service.console.name
  role     = "roles/run.invoker"
  member   = each.value
}
