# Experiment shards fan out on a topic to experiments-worker. Its push subscription is made by
# the worker's Eventarc trigger (gcloud functions deploy --trigger-topic), not here;
# ./deploy.sh deploy then points that subscription's dead-lettering at the topic below.

resource "google_pubsub_topic" "this" {
  for_each = module.catalog.topics

  project = var.project
  name    = each.value

  message_retention_duration = "86400s"

  depends_on = [google_project_service.required]
}

# A topic without a subscription drops what is published to it: this keeps dead shards a week.
resource "google_pubsub_subscription" "dead_letter_hold" {
  project = var.project
  name    = module.catalog.dead_letter.subscription
  topic   = module.catalog.dead_letter.topic

  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }

  depends_on = [google_pubsub_topic.this]
}

resource "google_pubsub_topic_iam_member" "publishers" {
  for_each = module.catalog.publisher_grants

  project = var.project
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.this[each.value.function].email}"

  depends_on = [google_pubsub_topic.this]
}

# Dead-lettering: the Pub/Sub service agent forwards undeliverable shards to this topic.
resource "google_pubsub_topic_iam_member" "dead_letter_forwarder" {
  project = var.project
  topic   = module.catalog.dead_letter.topic
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent

  depends_on = [google_pubsub_topic.this]
}

# Pub/Sub mints the OIDC token of each push as the trigger's account (the function's own).
resource "google_service_account_iam_member" "pubsub_token_creator" {
  for_each = module.catalog.event_functions

  service_account_id = google_service_account.this[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}
