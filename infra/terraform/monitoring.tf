# Cloud Monitoring: every alert the app raises is also one JSON log line
# (jsonPayload.event = "vote_extractor_alert", with alert_kind, schedule_id, experiment_id).
# A log-based metric counts them by kind; a policy notifies on any.

resource "google_logging_metric" "alerts" {
  project = var.project
  name    = module.catalog.alerts.log_metric
  filter  = "jsonPayload.event=\"${module.catalog.alerts.log_event}\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "vote-extractor alerts"

    labels {
      key         = "alert_kind"
      value_type  = "STRING"
      description = "regression, quality_below_target, negative_feedback_rate, faithfulness_below_target, evaluation_failure_rate, shard_failed, cross_check_disagreement_rate, consistency_failure_rate, online_evaluation_failure_rate or thumbs_down_rate"
    }
    labels {
      key         = "schedule_id"
      value_type  = "STRING"
      description = "The schedule whose experiment raised the alert"
    }
  }

  label_extractors = {
    alert_kind  = "EXTRACT(jsonPayload.alert_kind)"
    schedule_id = "EXTRACT(jsonPayload.schedule_id)"
  }

  depends_on = [google_project_service.required]
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email != "" ? 1 : 0

  project      = var.project
  display_name = "vote-extractor alerts (${var.alert_email})"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

resource "google_monitoring_alert_policy" "alerts" {
  count = var.cloud_monitoring_alert_policy ? 1 : 0

  project      = var.project
  display_name = "vote-extractor alert raised"
  combiner     = "OR"

  conditions {
    display_name = "An alert log line (any kind) in the last 5 minutes"

    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.alerts.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.alert_kind"]
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "vote-extractor raised an alert (kind $${metric.label.alert_kind}). Find the line with the Logs Explorer query `jsonPayload.event=\"${module.catalog.alerts.log_event}\"`; its experiment_id and schedule_id say which run, and `GET /experiments/{experiment_id}` shows it; a rate over production traffic has no experiment but its window_start, and `GET /experiments/alerts` lists it with its counts."
  }

  notification_channels = concat(google_monitoring_notification_channel.email[*].id, var.notification_channel_ids)

  alert_strategy {
    auto_close = "86400s"
  }
}
