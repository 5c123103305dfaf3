output "images_bucket" {
  value = google_storage_bucket.images.name
}

output "service_accounts" {
  description = "Runtime identity of each function and of the console, plus the scheduler invoker and the build account."
  value       = { for key, account in google_service_account.this : key => account.email }
}

output "topics" {
  value = { for key, topic in google_pubsub_topic.this : key => topic.name }
}

output "dashboards" {
  value = { for key, board in datadog_dashboard_json.this : key => board.url }
}

output "console_url" {
  description = "The console's Cloud Run URL (private: open it with gcloud run services proxy, see README)."
  value       = google_cloud_run_v2_service.console.uri
}

output "next" {
  value = "Add the secret values (see README), then: ./deploy.sh deploy --project ${var.project} --region ${var.region}"
}
