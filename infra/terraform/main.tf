# Long-lived resources of vote-extractor. The functions themselves, their Eventarc push
# subscription and the Cloud Scheduler job are made by ./deploy.sh deploy (gcloud), which runs
# after this; the console's Cloud Run service is declared here and its image deployed by it.
# Every name comes from infra/functions.json, through the catalog module.

module "catalog" {
  source       = "./modules/catalog"
  catalog_json = file("${path.module}/../functions.json")
  project      = var.project
  region       = var.region
  # https://api.datadoghq.eu/ -> datadoghq.eu: the site the console's RUM reports to.
  dd_site = trimsuffix(trimprefix(var.datadog_api_url, "https://api."), "/")
}

data "google_project" "this" {
  project_id = var.project
}

locals {
  pubsub_service_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  required_apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "required" {
  for_each = toset(local.required_apis)

  project = var.project
  service = each.value
  # Turning an API off on destroy would break anything else in the project that uses it.
  disable_on_destroy = false
}
