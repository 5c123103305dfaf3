# One Datadog monitor per alert kind. The app decides when a threshold is breached (the
# schedule's own targets) and posts a Datadog event titled "vote-extractor alert: <kind> (...)"
# tagged service:vote-extractor, alert_kind:<kind>, schedule:<id>, experiment:<id>; each
# monitor fires on such an event and notifies var.datadog_notify.

resource "datadog_monitor" "alert_events" {
  for_each = module.catalog.alerts.kinds

  name    = "vote-extractor: ${each.value}"
  type    = "event-v2 alert"
  query   = "events(\"service:vote-extractor alert_kind:${each.key}\").rollup(\"count\").by(\"schedule,experiment\").last(\"5m\") > 0"
  message = <<-EOT
    {{#is_alert}}${each.value}: schedule {{schedule.name}}, experiment {{experiment.name}}.
    {{event.title}}
    {{event.text}}
    Open GET /experiments/{{experiment.name}} (and /compare) for the evidence.{{/is_alert}}
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
