# The functions' container images (gcloud functions deploy --docker-repository). Cloud Functions'
# own default repository keeps every image of every deploy; this one keeps the newest few. The
# console's images go where gcloud run deploy --source puts them (cloud-run-source-deploy), made
# here first with the same policy. If a source deploy already made it, import it:
#   terraform import google_artifact_registry_repository.console projects/P/locations/R/repositories/cloud-run-source-deploy

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

resource "google_artifact_registry_repository" "console" {
  project       = var.project
  location      = var.region
  repository_id = module.catalog.console.image_repository
  format        = "DOCKER"
  description   = "vote-extractor console images (gcloud run deploy --source)"

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
