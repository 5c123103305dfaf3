# The secrets exist here; their values never do. Add a version with
#   printf '%s' "$DD_API_KEY" | gcloud secrets versions add vote-extractor-dd-api-key --data-file=-
# (or ./deploy.sh deploy with the variable set). Each function may read only the secrets it uses;
# the console only its own API key.

resource "google_secret_manager_secret" "this" {
  for_each = module.catalog.secrets

  project   = var.project
  secret_id = each.value

  replication {
    auto {}
  }

  labels = {
    app = "vote-extractor"
  }

  depends_on = [google_project_service.required]
}

resource "google_secret_manager_secret_iam_member" "accessors" {
  for_each = module.catalog.secret_grants

  project   = var.project
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.this[each.value.function].email}"

  depends_on = [google_secret_manager_secret.this]
}
