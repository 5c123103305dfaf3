# One runtime identity per function (least privilege), the console's (no project role: it only
# reads its own secret), the scheduler's invoker and the build identity. Invoker rights on the
# functions themselves are granted by ./deploy.sh deploy, once the functions exist (Cloud Run IAM
# is per service); on the console, by console.tf (var.console_invokers) or --console-invoker.

resource "google_service_account" "this" {
  for_each = module.catalog.service_accounts

  project      = var.project
  account_id   = each.value.account_id
  display_name = each.value.display_name

  depends_on = [google_project_service.required]
}

resource "google_project_iam_member" "function_roles" {
  for_each = module.catalog.project_role_grants

  project = var.project
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.this[each.value.function].email}"
}

# gcloud functions deploy --build-service-account: builds run as this account, not as the
# Compute Engine default account (whose rights differ from project to project).
resource "google_project_iam_member" "build" {
  for_each = toset([
    "roles/cloudbuild.builds.builder",
    "roles/logging.logWriter",
    "roles/artifactregistry.writer",
    "roles/storage.objectViewer",
  ])

  project = var.project
  role    = each.value
  member  = "serviceAccount:${google_service_account.this["build"].email}"
}
