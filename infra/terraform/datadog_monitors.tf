# One Datadog monitor per alert kind: the app decides when a threshold is breached and posts a
# Datadog event titled "vote-extractor alert: <kind> (...)" tagged service:vote-extractor and
# alert_kind:<kind>; each monitor fires on such an event and notifies var.datadog_notify.
#
# Two scopes of kind:
# - a scheduled experiment's (the schedule's own thresholds; tagged schedule:<id>, experiment:<id>);
# - a RATE over production traffic (local.traffic_alert_kinds; tagged alert_scope:traffic): each
#   hourly tick of experiments-scheduled reads the last complete window of extractions (their
#   stored online evaluations) and feedback from Firestore and alerts once per window when a rate
#   is above its limit with enough samples: cross-check disagreements / extractions cross-checked,
#   consistency or figures_match_words failures / extractions judged, evaluators that raised /
#   online evaluations attempted, thumbs down / feedback. The limits, minimum samples and window
#   are the function's settings (MAX_*_RATE, MIN_*, TRAFFIC_ALERT_WINDOW_MINUTES in
#   shared/config.py), set in infra/functions.json's experiments-scheduled env: Terraform does not
#   deploy the functions (./deploy.sh does), so they are not Terraform variables.
# These event monitors are the rate alerts that reach a person; the llm-observability monitors
# further down are a second line.

locals {
  traffic_alert_kinds       = ["cross_check_disagreement_rate", "consistency_failure_rate", "online_evaluation_failure_rate", "thumbs_down_rate"]
  traffic_alert_evidence    = "A rate over production traffic: GET /experiments/alerts gives its window, counts and limit; the review queue holds the extractions."
  experiment_alert_evidence = "Schedule {{schedule.name}}, experiment {{experiment.name}}: open GET /experiments/{{experiment.name}} (and /compare) for the evidence."
}

resource "datadog_monitor" "alert_events" {
  for_each = module.catalog.alerts.kinds

  name    = "vote-extractor: ${each.value}"
  type    = "event-v2 alert"
  query   = "events(\"service:vote-extractor alert_kind:${each.key}\").rollup(\"count\").by(\"schedule,experiment\").last(\"5m\") > 0"
  message = <<-EOT
    {{#is_alert}}${each.value}.
    {{event.title}}
    {{event.text}}
    ${contains(local.traffic_alert_kinds, each.key) ? local.traffic_alert_evidence : local.experiment_alert_evidence}{{/is_alert}}
    ${var.datadog_notify}
  EOT

  monitor_thresholds {
    critical = 0
  }

  priority            = contains(["regression", "shard_failed"], each.key) ? 2 : 3
  notify_no_data      = false
  require_full_window = false
  include_tags        = true
  tags                = ["service:vote-extractor", "alert_kind:${each.key}", "managed-by:terraform"]
}

# A second line: monitors on the evaluations themselves, as LLM Observability receives them
# (labels as the app submits them: @evaluations.custom.<label>). They COUNT failures per window,
# where the app's traffic events above alert on a RATE with a minimum sample; they still fire if
# the app's scheduled tick is down, and they watch Ragas faithfulness, which the app checks per
# scheduled experiment (faithfulness_below_target).
#
# Why each query is shaped as it is:
# - Type "llm-observability alert" with one search, `llm-observability("<search>").rollup(...)
#   .last(<window>)`: the form Datadog's monitor API documents for LLM Observability. A ratio of two
#   searches would need formula() over `variables`, and Datadog's monitor models
#   (datadog-api-client) do not accept llm_observability as a data source of a monitor formula;
#   so a monitor counts the failures in the window (the dashboards chart the rate, failed / judged),
#   and the limits are counts per window, in variables.
# - Boolean evaluations are searched by value (`:false`), never averaged; cross_check is a score
#   (1.0 when the second reading agrees on every count), so a disagreement is `:<1`; Ragas
#   faithfulness is a score in 0-1, so its mean is a mean ("Ragas faithfulness < 0.7").
# - user_feedback is categorical: thumbs_down is one of its values.
# - Evaluation failures: an evaluator that raises is kept with the record and not sent to Datadog
#   (shared/evaluation/sink.py), so no LLM Observability search sees it; the app computes that rate
#   over production traffic (online_evaluation_failure_rate) and per scheduled experiment
#   (evaluation_failure_rate) and posts the events the monitors above watch.

locals {
  llmobs_app = "@ml_app:${module.catalog.ml_app}"

  evaluation_monitors = {
    cross_check_disagreements = {
      name     = "vote-extractor: cross-check disagreements"
      query    = "llm-observability(\"${local.llmobs_app} @evaluations.custom.cross_check:<1\").rollup(\"count\").last(\"${var.evaluation_monitor_window}\") > ${var.max_cross_check_disagreements}"
      critical = var.max_cross_check_disagreements
      text     = "More than ${var.max_cross_check_disagreements} extractions in ${var.evaluation_monitor_window} disagree with their second reading (cross_check below 1). Open the review queue (reason cross_check) and the quality dashboard's disagreement rate."
    }
    consistency_failures = {
      name     = "vote-extractor: consistency failures"
      query    = "llm-observability(\"${local.llmobs_app} (@evaluations.custom.consistency:false OR @evaluations.custom.figures_match_words:false)\").rollup(\"count\").last(\"${var.evaluation_monitor_window}\") > ${var.max_consistency_failures}"
      critical = var.max_consistency_failures
      text     = "More than ${var.max_consistency_failures} extractions in ${var.evaluation_monitor_window} fail their form type's arithmetic (consistency) or state figures their words contradict (figures_match_words). See the quality dashboard's failure rates."
    }
    ragas_faithfulness = {
      name     = "vote-extractor: Ragas faithfulness below ${var.min_ragas_faithfulness}"
      query    = "llm-observability(\"${local.llmobs_app} @evaluations.custom.ragas_faithfulness:*\").rollup(\"avg\", \"@evaluations.custom.ragas_faithfulness\").last(\"${var.evaluation_monitor_window}\") < ${var.min_ragas_faithfulness}"
      critical = var.min_ragas_faithfulness
      text     = "Mean Ragas faithfulness of the runs in ${var.evaluation_monitor_window} is below ${var.min_ragas_faithfulness} (Ragas runs in experiments with reference docs). See the Ragas dashboard."
    }
    thumbs_down = {
      name     = "vote-extractor: thumbs down"
      query    = "llm-observability(\"${local.llmobs_app} @evaluations.custom.user_feedback:thumbs_down\").rollup(\"count\").last(\"${var.evaluation_monitor_window}\") > ${var.max_thumbs_down}"
      critical = var.max_thumbs_down
      text     = "More than ${var.max_thumbs_down} thumbs down in ${var.evaluation_monitor_window}. Open the review queue (reason thumbs_down) and the feedback dashboard's negative feedback rate."
    }
  }
}

resource "datadog_monitor" "evaluations" {
  for_each = local.evaluation_monitors

  name    = each.value.name
  type    = "llm-observability alert"
  query   = each.value.query
  message = <<-EOT
    {{#is_alert}}${each.value.text}{{/is_alert}}
    ${var.datadog_notify}
  EOT

  monitor_thresholds {
    critical = each.value.critical
  }

  priority            = 3
  notify_no_data      = false # no cross check sampled or no feedback for an hour is not a fault
  require_full_window = false
  include_tags        = true
  tags                = ["service:vote-extractor", "evaluation_monitor:${each.key}", "managed-by:terraform"]
}
