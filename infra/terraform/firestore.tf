# Firestore in native mode, the system of record, and the composite indexes its queries need.

resource "google_firestore_database" "main" {
  project     = var.project
  name        = module.catalog.firestore_database
  location_id = var.firestore_location != "" ? var.firestore_location : var.region
  type        = "FIRESTORE_NATIVE"

  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  # Any minute of the last 7 days can be read back (a bad delete, a bug that rewrote records);
  # the versions kept are billed as storage.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"

  depends_on = [google_project_service.required]
}

# A daily backup kept var.firestore_backup_retention_days (restored into a new database with
# `gcloud firestore databases restore`); billed per GiB-month of backup storage.
resource "google_firestore_backup_schedule" "daily" {
  project  = var.project
  database = google_firestore_database.main.name

  retention = "${var.firestore_backup_retention_days * 86400}s"

  daily_recurrence {}
}

# One block per entry of COMPOSITE_INDEXES in shared/storage/indexes.py (a test keeps the two
# equal and prints the block to paste when a new query needs one).

resource "google_firestore_index" "extractions_golden_candidate_in_dataset" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "golden_candidate"
    order      = "ASCENDING"
  }
  fields {
    field_path = "in_dataset"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "feedback_feedback_type_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "feedback"

  fields {
    field_path = "feedback_type"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "alerts_schedule_id_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "alerts"

  fields {
    field_path = "schedule_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_status_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_model_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "model"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_golden_candidate_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "golden_candidate"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_has_thumbs_down_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "has_thumbs_down"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_has_thumbs_up_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "has_thumbs_up"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_corrected_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "corrected"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_has_feedback_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "has_feedback"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "extractions_form_type_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "form_type"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "experiments_dataset_name_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "experiments"

  fields {
    field_path = "dataset_name"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "experiments_status_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "experiments"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

resource "google_firestore_index" "experiments_schedule_id_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "experiments"

  fields {
    field_path = "schedule_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}


resource "google_firestore_index" "review_items_closed_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "closed"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_reason_flags_golden_candidate_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "reason_flags.golden_candidate"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_reason_flags_thumbs_down_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "reason_flags.thumbs_down"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_reason_flags_consistency_failed_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "reason_flags.consistency_failed"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_reason_flags_classification_low_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "reason_flags.classification_low"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_reason_flags_cross_check_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "reason_flags.cross_check"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_reason_flags_random_sample_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "reason_flags.random_sample"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

# extractions.count_made: production accuracy's aggregation counts over a window.
resource "google_firestore_index" "extractions_form_type_created_at_ascending" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "form_type"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "extractions_automatic_verdict_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "automatic_verdict"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "extractions_automatic_verdict_form_type_created_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "extractions"

  fields {
    field_path = "automatic_verdict"
    order      = "ASCENDING"
  }
  fields {
    field_path = "form_type"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

resource "google_firestore_index" "review_items_closed_decided_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "review_items"

  fields {
    field_path = "closed"
    order      = "ASCENDING"
  }
  fields {
    field_path = "decided_at"
    order      = "ASCENDING"
  }
}

# One block per entry of SINGLE_FIELD_OVERRIDES in shared/storage/indexes.py: a collection-group
# query on one field needs its collection-group index, which Firestore does not make by itself.
# An index_config replaces the field's automatic indexes; no collection-scope query filters on
# these fields (a version's entries are read in id order), so only the group's index is kept.

resource "google_firestore_field" "entries_source_extraction_id" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "entries"
  field      = "source.extraction_id"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

resource "google_firestore_field" "entries_input_image_uri" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "entries"
  field      = "input.image_uri"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

# One block per entry of INDEX_EXEMPTIONS: a snapshot chunk's entries (up to 900 KB of JSON) are
# never queried; an empty index_config keeps the field out of every index.
resource "google_firestore_field" "snapshot_entries" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "snapshot"
  field      = "entries"

  index_config {}
}
