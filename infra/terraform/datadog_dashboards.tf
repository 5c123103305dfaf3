# Datadog dashboards over LLM Observability data (evaluations are queried as
# @evaluations.custom.<label>, the labels the app submits) and the app's alert events.

locals {
  dashboards = toset(["quality", "feedback", "ragas", "experiments"])
}

resource "datadog_dashboard_json" "this" {
  for_each = local.dashboards

  dashboard = templatefile("${path.module}/dashboards/${each.key}.json.tftpl", {
    ml_app = module.catalog.ml_app
  })
}
