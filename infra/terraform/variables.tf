variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the functions, the scheduler job and the images bucket (e.g. europe-west1)."
  type        = string
}

variable "firestore_location" {
  description = "Firestore location; empty means the same as region (a multi-region such as eur3 also works)."
  type        = string
  default     = ""
}

variable "datadog_api_key" {
  description = "Datadog API key, for the provider that manages the dashboards and monitors."
  type        = string
  sensitive   = true
}

variable "datadog_app_key" {
  description = "Datadog application key, for the provider that manages the dashboards and monitors."
  type        = string
  sensitive   = true
}

variable "datadog_api_url" {
  description = "Datadog API of your site: https://api.datadoghq.com/, https://api.datadoghq.eu/, ..."
  type        = string
  default     = "https://api.datadoghq.com/"
}

variable "datadog_notify" {
  description = "Who the Datadog monitors notify, as in a monitor message: one or more handles, e.g. \"@slack-llm-quality @pagerduty-vote-extractor @oncall@example.org\". Required: a monitor that notifies no one alerts nobody."
  type        = string

  validation {
    condition     = length(regexall("\\S+", var.datadog_notify)) > 0 && alltrue([for handle in regexall("\\S+", var.datadog_notify) : length(regexall("^@[A-Za-z0-9._%+@-]+$", handle)) > 0])
    error_message = "The Datadog monitors would notify no one: set datadog_notify to one or more handles, each starting with @ (e.g. \"@slack-llm-quality\" or \"@oncall@example.org\"), or pass --datadog-notify to ./deploy.sh deploy."
  }
}

variable "evaluation_monitor_window" {
  description = "The window each evaluation monitor looks back over (Datadog's last(...) form: 5m, 15m, 1h, 4h, 1d)."
  type        = string
  default     = "1h"

  validation {
    condition     = contains(["5m", "10m", "15m", "30m", "1h", "2h", "4h", "1d"], var.evaluation_monitor_window)
    error_message = "evaluation_monitor_window is one of 5m, 10m, 15m, 30m, 1h, 2h, 4h, 1d."
  }
}

variable "max_cross_check_disagreements" {
  description = "Alert when more extractions than this disagree with their second reading (cross_check below 1) in the window."
  type        = number
  default     = 5
}

variable "max_consistency_failures" {
  description = "Alert when more extractions than this fail consistency or figures_match_words in the window."
  type        = number
  default     = 5
}

variable "min_ragas_faithfulness" {
  description = "Alert when the mean Ragas faithfulness of the window's runs is below this (the guide's 0.7)."
  type        = number
  default     = 0.7

  validation {
    condition     = var.min_ragas_faithfulness > 0 && var.min_ragas_faithfulness <= 1
    error_message = "Ragas faithfulness is a score between 0 and 1."
  }
}

variable "max_thumbs_down" {
  description = "Alert when more thumbs down than this arrive in the window."
  type        = number
  default     = 3
}

variable "alert_email" {
  description = "E-mail that Cloud Monitoring notifies on an alert log line; empty for none."
  type        = string
  default     = ""
}

variable "notification_channel_ids" {
  description = "Existing Cloud Monitoring notification channels (full ids) to notify as well."
  type        = list(string)
  default     = []
}

variable "cloud_monitoring_alert_policy" {
  description = "Also alert through Cloud Monitoring on the app's alert log line (about $1.50 a month per condition); the Datadog monitors alert either way."
  type        = bool
  default     = true
}

variable "console_invokers" {
  description = "Who may open the console (roles/run.invoker on its Cloud Run service), e.g. [\"user:ada@example.org\", \"group:reviewers@example.org\"]. Empty: nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.console_invokers : !contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "The console holds an API key and stays private: name people, groups or service accounts, not allUsers or allAuthenticatedUsers."
  }
}

variable "firestore_backup_retention_days" {
  description = "How long each daily Firestore backup is kept (1 to 98 days; backup storage is billed per GiB-month)."
  type        = number
  default     = 7

  validation {
    condition     = var.firestore_backup_retention_days >= 1 && var.firestore_backup_retention_days <= 98
    error_message = "Firestore keeps a scheduled backup for at most 14 weeks (98 days)."
  }
}

variable "images_soft_delete_days" {
  description = "How long a deleted image can be restored (0 turns soft delete off; otherwise 7 to 90 days, billed as storage meanwhile)."
  type        = number
  default     = 7

  validation {
    condition     = var.images_soft_delete_days == 0 || (var.images_soft_delete_days >= 7 && var.images_soft_delete_days <= 90)
    error_message = "Cloud Storage soft delete is off (0) or 7 to 90 days."
  }
}
