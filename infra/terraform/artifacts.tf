# The functions' container images (gcloud functions deploy --docker-repository). Cloud Functions'
# own default repository keeps every image of every deploy; this one keeps the newest few.

resource "google_artifact_registry_repository" "functions" {
  project       = var.project
  location      = var.region
  repository_id = module.catalog.artifact_repository.id
  format        = "DOCKER"
  description   = "vote-extractor Cloud Functions images"

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = module.catalog.artifact_repository.keep_recent_versions
    }
  }

  cleanup_policies {
    id     = "delete-older"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "604800s"
    }
  }

  depends_on = [google_project_service.required]
}
